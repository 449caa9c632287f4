"""Push benchmark: our `diagops serve` against Nchan, side by side in one run.

    .venv/bin/python -m benchmarks.push_bench --sockets 100,1000 --idle 1000,5000 --seconds 10

For each socket count, both servers get the same fan-out workload (sockets over sockets/10
executions, one ~250-byte event per execution every 50 ms, published over HTTP), measured
for `--seconds` after a warm-up: delivered msgs/s, delivery latency p50/p99, server CPU per
delivered message, and the CPU of every client process (to show which side limited the
run). Then the RSS per idle subscribed socket at the `--idle` counts. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchmarks` and the service importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.nchan import nchan_missing, nchan_server  # noqa: E402
from benchmarks.servers import diagops_server  # noqa: E402
from benchmarks.variants import link_checkout, parse_variant  # noqa: E402
from diagops.bench.wsload import CpuWindow, Target, measure_idle, raise_nofile, run_fanout  # noqa: E402
from diagops.bench.wsload.cpu import SATURATED, cpu_entry  # noqa: E402
from diagops.bench.wsload.target import PUBLISH_MODES  # noqa: E402

GOAL_P99_MS = 10.0  # at 1,000 sockets
GOAL_KIB_PER_IDLE = 20.0
GOAL_CPU_RATIO = 2.0  # our CPU per message / Nchan's
GOAL_REDIS_BATCH_MSGS_PER_S = 10_000  # Redis store, batched publishing, per service process
GOAL_REDIS_CPU_RATIO = 1.5  # Redis store's service CPU per message / the memory store's
STORES = ("memory", "redis")


def _counts(text: str) -> list[int]:
    return [int(x) for x in text.replace(" ", "").split(",") if x and int(x) > 0]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.push_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sockets", default="100,1000", help="socket counts of the fan-out runs (default 100,1000)")
    ap.add_argument("--idle", default="1000,5000", help="socket counts for RSS per idle socket ('' to skip)")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured window of each fan-out run (default 10)")
    ap.add_argument("--warmup", type=float, default=3.0, help="publishing before the window opens (default 3)")
    ap.add_argument("--period-ms", type=float, default=50.0, help="one event per execution every N ms (default 50)")
    ap.add_argument("--fanout", type=int, default=10, help="sockets per execution (default 10)")
    ap.add_argument("--event-bytes", type=int, default=250, help="size of a pushed frame (default 250)")
    ap.add_argument("--client-procs", type=int, default=1, help="subscriber processes (default 1; +1 publisher)")
    ap.add_argument("--repeat", type=int, default=1, help="run every fan-out pair N times, report median and range")
    ap.add_argument("--publish", default="http",
                    help="how our service gets its events, a comma list run side by side: http (one POST per event), "
                         "batch (the events due within 2 ms in one POST /api/v1/events), ws (publish frames on one "
                         "socket); reported as diagops, diagops-batch, diagops-ws. Nchan always gets one POST per "
                         "event (default http)")
    ap.add_argument("--store", default="memory",
                    help="our service's stores, a comma list run side by side: memory, redis (a fresh redis-server "
                         "per run, its CPU per message reported apart from the service's); Redis runs are named "
                         "diagops-redis, diagops-redis-batch, ... (default memory)")
    ap.add_argument("--skip-nchan", action="store_true", help="load only our service")
    ap.add_argument("--json", metavar="PATH", help="write every figure as JSON to PATH ('-': stdout, table to stderr)")
    ap.add_argument("--profile", metavar="DIR",
                    help="after the runs, one extra run of our service (its first --publish mode and --store) at the largest "
                         "socket count under py-spy; "
                         "raw stacks and a hot-spot summary go to DIR (not part of the figures)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=PATH",
                    help="also load `diagops serve` from another checkout PATH (e.g. a git worktree with a "
                         "candidate change), run on each --store and --publish like ours and reported as NAME (NAME-batch, "
                         "NAME-redis-batch, ...) beside them and Nchan; repeatable. PATH needs the "
                         "diagops.* namespace layout (pyproject.toml package-dir, diagops/__main__.py); its code is "
                         "linked onto PYTHONPATH and runs with this virtualenv's dependencies (a package PATH "
                         "lacks comes from this checkout)")
    ap.add_argument("--keep-logs", metavar="DIR", help="keep server logs in DIR (default: a temp dir, removed)")
    return ap.parse_args(argv)


# --------------------------------------------------------------------------- running


def _fanout(make_server: Any, log_dir: Path, n: int, args: argparse.Namespace, on_window: Any = None) -> dict[str, Any]:
    with make_server(log_dir) as target:
        redis_cpu = CpuWindow(list(target.store_pids)) if target.store_pids else None

        def window(t0: float, t1: float) -> None:
            if redis_cpu is not None:
                redis_cpu.start(t0, t1)
            if on_window is not None:
                on_window(target, t0, t1)

        result = run_fanout(target, n, args.seconds, fanout=args.fanout, period_s=args.period_ms / 1000,
                            warmup_s=args.warmup, event_bytes=args.event_bytes, subscriber_procs=args.client_procs,
                            on_window=window)
        redis_seconds = redis_cpu.result() if redis_cpu is not None else None
    if redis_seconds is not None:  # the service's CPU stays in server_cpu; Redis's is its own figure
        result["redis_cpu"] = cpu_entry(redis_seconds, result["window_s"], result["delivered_in_window"])
        share = redis_seconds / result["window_s"]
        if share >= SATURATED:
            result["limited_by"] = f"redis-server CPU ({share:.0%} of a core); {result['limited_by']}"
    return result


def _idle(make_server: Any, log_dir: Path, counts: list[int], args: argparse.Namespace) -> dict[str, Any]:
    with make_server(log_dir) as target:
        return measure_idle(target, counts, fanout=args.fanout, subscriber_procs=args.client_procs)


def run_all(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    nofile = raise_nofile()
    sockets = _counts(args.sockets)
    idle = _counts(args.idle)
    variants = [parse_variant(text) for text in args.variant]
    if len({v.name for v in variants}) < len(variants):
        raise SystemExit("--variant: give each NAME once")
    log_dir = Path(args.keep_logs) if args.keep_logs else Path(tempfile.mkdtemp(prefix="push-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    modes = [m for m in args.publish.replace(" ", "").split(",") if m]
    if not modes or set(modes) - set(PUBLISH_MODES):
        raise SystemExit(f"--publish: a comma list of {', '.join(PUBLISH_MODES)}")
    stores = [m for m in args.store.replace(" ", "").split(",") if m]
    if not stores or set(stores) - set(STORES):
        raise SystemExit(f"--store: a comma list of {', '.join(STORES)}")
    servers: list[tuple[str, Any]] = [
        (_mode_name(mode, store), functools.partial(diagops_server, name=_mode_name(mode, store), publish=mode, store=store))
        for store in stores for mode in modes
    ]
    for variant in variants:  # each --store and --publish too: a store's change is measured on that store
        code = link_checkout(variant.checkout, log_dir / "variants" / variant.name)
        for store in stores:
            for mode in modes:
                name = _mode_name(mode, store).replace("diagops", variant.name, 1)  # before, before-redis-batch, ...
                servers.append((name, functools.partial(diagops_server, name=name, code=code, publish=mode, store=store)))
    skipped = None
    if not args.skip_nchan:
        skipped = nchan_missing()
        if skipped is None:
            servers.append(("nchan", nchan_server))
        else:
            console.print(f"[yellow]Nchan skipped: {skipped}[/]")
    need = max(idle + sockets, default=0) * 2 + 200
    if nofile[0] < need:
        console.print(f"[yellow]open-files limit {nofile[0]} may be too low for {need // 2} sockets (ulimit -n)[/]")
    doc: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "-m", "benchmarks.push_bench", *sys.argv[1:]]),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": psutil.cpu_count(), "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
                    "nofile": list(nofile), "python": sys.version.split()[0]},
        "config": {"sockets": sockets, "idle": idle, "seconds": args.seconds, "warmup_s": args.warmup,
                   "period_ms": args.period_ms, "fanout": args.fanout, "event_bytes": args.event_bytes,
                   "subscriber_procs": args.client_procs, "repeat": args.repeat, "nchan_skipped": skipped,
                   "publish": modes, "stores": stores},
        "fanout_runs": [], "idle_runs": [],
    }
    started = time.monotonic()
    try:
        for rep in range(args.repeat):
            for n in sockets:
                order = servers if rep % 2 == 0 else list(reversed(servers))  # alternate who goes first
                for name, make in order:
                    console.print(f"[dim]run {rep + 1}/{args.repeat}: {name}, {n} sockets ...[/]")
                    result = _fanout(make, log_dir, n, args)
                    result["repeat"] = rep
                    doc["fanout_runs"].append(result)
                    console.print(f"[dim]  {result['delivered_msgs_per_s']:.0f} msg/s, "
                                  f"p99 {result['latency_ms']['server_timestamp']['p99']} ms, "
                                  f"{result['server_cpu']['us_per_msg']} µs/msg, limited by: {result['limited_by']}[/]")
        if idle:
            for name, make in servers:
                console.print(f"[dim]idle memory: {name}, {', '.join(map(str, idle))} sockets ...[/]")
                doc["idle_runs"].append(_idle(make, log_dir, idle, args))
        if args.profile and sockets:
            doc["profile"] = profile_run(args, log_dir, max(sockets), Path(args.profile), console)
    finally:
        if not args.keep_logs:
            shutil.rmtree(log_dir, ignore_errors=True)
    doc["elapsed_s"] = round(time.monotonic() - started, 1)
    doc["summary"] = summarize(doc)
    return doc


def _mode_name(mode: str, store: str = "memory") -> str:
    base = "diagops" if store == "memory" else f"diagops-{store}"
    return base if mode == "http" else f"{base}-{mode}"


# --------------------------------------------------------------------------- profiling


def profile_run(args: argparse.Namespace, log_dir: Path, n: int, out: Path, console: Console) -> dict[str, Any]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.access(py_spy, os.X_OK):
        console.print("[yellow]--profile: py-spy not found (.venv/bin/pip install py-spy)[/]")
        return {"error": "py-spy not installed"}
    out.mkdir(parents=True, exist_ok=True)
    raw = out / f"diagops-{n}.collapsed.txt"
    spy: dict[str, subprocess.Popen[bytes]] = {}

    def start(target: Target, t0: float, t1: float) -> None:
        spy["p"] = subprocess.Popen(
            [py_spy, "record", "--pid", str(target.pids[0]), "--duration", str(int(args.seconds)), "--rate", "250",
             "--format", "raw", "--nonblocking", "--output", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    console.print(f"[dim]profile: diagops, {n} sockets, under py-spy ...[/]")
    mode = args.publish.replace(" ", "").split(",")[0]  # the first --publish mode is the one profiled
    store = args.store.replace(" ", "").split(",")[0]  # on the first --store
    result = _fanout(functools.partial(diagops_server, publish=mode, store=store), log_dir, n, args, on_window=start)
    proc = spy["p"]
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    if not raw.exists():
        return {"error": (proc.stderr.read() if proc.stderr else b"").decode(errors="replace")[-500:]}
    hot = hot_spots(raw)
    (out / f"diagops-{n}.hotspots.json").write_text(json.dumps(hot, indent=2))
    return {"sockets": n, "raw": str(raw), "us_per_msg_under_profiler": result["server_cpu"]["us_per_msg"], **hot}


def hot_spots(raw: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        frames = [f for f in frames if not f.endswith(ENTRY_FRAMES)] or ["(entry frames only)"]
        self_time[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": f, "percent": round(100 * c / total, 1)} for f, c in counter.most_common(top)]

    return {"samples": total, "self": share(self_time), "inclusive": share(inclusive)}


# Frames that sit under most samples (CLI start-up, asyncio.run; uvloop's own C code shows up as
# Runner.run self time) and say nothing about where the time goes.
ENTRY_FRAMES = ("(<frozen runpy>)", "(cli/__main__.py)", "(cli/serve.py)", "(push/server.py)", "(asyncio/runners.py)",
                "(typer/main.py)", "(typer/core.py)", "(typer/_click/core.py)", "(click/core.py)")


def _short(frame: str) -> str:
    """`send_str (aiohttp/web_ws.py:123)` -> `send_str (aiohttp/web_ws.py)`: group a function's lines."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})" if where else name


# --------------------------------------------------------------------------- summary


def _stat(values: list[float | None]) -> dict[str, float | None]:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None}
    return {"median": round(statistics.median(vals), 3), "min": round(min(vals), 3), "max": round(max(vals), 3)}


def summarize(doc: dict[str, Any]) -> dict[str, Any]:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in doc["fanout_runs"]:
        groups[(r["target"], r["sockets"])].append(r)
    fanout: dict[str, dict[str, Any]] = defaultdict(dict)
    for (name, n), runs in sorted(groups.items()):
        fanout[name][str(n)] = {
            "runs": len(runs),
            "delivered_msgs_per_s": _stat([r["delivered_msgs_per_s"] for r in runs]),
            "target_msgs_per_s": runs[0]["target_msgs_per_s"],
            "p50_ms": _stat([r["latency_ms"]["server_timestamp"]["p50"] for r in runs]),
            "p99_ms": _stat([r["latency_ms"]["server_timestamp"]["p99"] for r in runs]),
            "p50_sent_at_ms": _stat([r["latency_ms"]["client_sent_at"]["p50"] for r in runs]),
            "p99_sent_at_ms": _stat([r["latency_ms"]["client_sent_at"]["p99"] for r in runs]),
            "server_us_per_msg": _stat([r["server_cpu"]["us_per_msg"] for r in runs]),
            "server_core_percent": _stat([r["server_cpu"]["core_percent"] for r in runs]),
            "redis_us_per_msg": _stat([r.get("redis_cpu", {}).get("us_per_msg") for r in runs]),
            "server_rss_mib": _stat([r["server_rss_mib"] for r in runs]),
            "missing": sum(r["integrity"]["missing"] for r in runs),
            "limited_by": sorted({r["limited_by"] for r in runs}),
        }
    ratios: dict[str, Any] = {}  # ours: {"1000": {...}}, variants: {"name": {"1000": {...}}}
    if "nchan" in fanout:
        for name in fanout:
            if name == "nchan":
                continue
            per: dict[str, Any] = {}
            for n in fanout[name]:
                # Paired per repeat: both servers ran back to back on the same machine state.
                pairs = _pairs(groups, name, int(n))
                if not pairs:
                    continue
                per[n] = {
                    "cpu_per_msg": _stat([_ratio(a["server_cpu"]["us_per_msg"], b["server_cpu"]["us_per_msg"]) for a, b in pairs]),
                    "p99": _stat([_ratio(a["latency_ms"]["server_timestamp"]["p99"], b["latency_ms"]["server_timestamp"]["p99"])
                                  for a, b in pairs]),
                    "p99_sent_at": _stat([_ratio(a["latency_ms"]["client_sent_at"]["p99"], b["latency_ms"]["client_sent_at"]["p99"])
                                          for a, b in pairs]),
                }
            if name == "diagops":
                ratios.update(per)
            else:
                ratios.setdefault("variants", {})[name] = per
    idle: dict[str, dict[str, Any]] = defaultdict(dict)
    for r in doc["idle_runs"]:
        for point in r["points"]:
            idle[r["target"]][str(point["sockets"])] = {"kib_per_socket": point["kib_per_socket"], "rss_mib": point["rss_mib"],
                                                        "open": point["open"]}
    return {"fanout": dict(fanout), "ratio_to_nchan": ratios, "idle": dict(idle), "goals": _goals(fanout, ratios, idle)}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _pairs(groups: dict[tuple[str, int], list[dict[str, Any]]], name: str, n: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    ours = {r["repeat"]: r for r in groups.get((name, n), [])}
    theirs = {r["repeat"]: r for r in groups.get(("nchan", n), [])}
    return [(ours[k], theirs[k]) for k in sorted(ours) if k in theirs and theirs[k]["server_cpu"]["us_per_msg"]]


def _goals(fanout: dict[str, Any], ratios: dict[str, Any], idle: dict[str, Any]) -> list[dict[str, Any]]:
    goals = []
    ours = fanout.get("diagops", {})
    if "1000" in ours:
        for key, label in (("p99_ms", "accepted→received, from `timestamp`"), ("p99_sent_at_ms", "publisher→received, from `sent_at`")):
            worst = ours["1000"][key]["max"]
            goals.append({"goal": f"p99 delivery < {GOAL_P99_MS:g} ms at 1,000 sockets ({label})",
                          "measured": f"{ours['1000'][key]['median']} ms (worst {worst})",
                          "met": worst is not None and worst < GOAL_P99_MS})
    for n, point in sorted(idle.get("diagops", {}).items(), key=lambda kv: int(kv[0])):
        goals.append({"goal": f"< {GOAL_KIB_PER_IDLE:g} KiB per idle connection at {int(n):,} sockets",
                      "measured": f"{point['kib_per_socket']} KiB", "met": point["kib_per_socket"] < GOAL_KIB_PER_IDLE})
    rows = [("diagops", k, v) for k, v in ratios.items() if k.isdigit()]
    rows += [(name, k, v) for name, per in ratios.get("variants", {}).items() if name.startswith("diagops-")
             for k, v in per.items()]
    for name, n, r in sorted(rows, key=lambda row: (row[0], int(row[1]))):
        worst = r["cpu_per_msg"]["max"]
        goals.append({"goal": f"{name}: CPU per message <= {GOAL_CPU_RATIO:g}x Nchan's at {int(n):,} sockets",
                      "measured": f"{r['cpu_per_msg']['median']:.2f}x (worst {worst:.2f}x)" if worst else "n/a",
                      "met": worst is not None and worst <= GOAL_CPU_RATIO})
    goals += _redis_goals(fanout)
    return goals


def _redis_goals(fanout: dict[str, Any]) -> list[dict[str, Any]]:
    """Redis store, batched: the rate per service process, and the service's CPU per message against
    the memory store's in the same run (batched on both)."""
    goals = []
    redis, memory = fanout.get("diagops-redis-batch", {}), fanout.get("diagops-batch", {})
    for n, row in sorted(redis.items(), key=lambda kv: int(kv[0])):
        rate = row["delivered_msgs_per_s"]["min"]
        offered = row["target_msgs_per_s"]
        goals.append({"goal": f"diagops-redis-batch: >= {GOAL_REDIS_BATCH_MSGS_PER_S:,} msg/s at {int(n):,} sockets "
                              f"(offered {offered:,.0f}/s)",
                      "measured": f"{row['delivered_msgs_per_s']['median']:,.0f} msg/s",
                      # 0.5 % slack: a window's count of an exactly met rate wobbles by a few events
                      "met": rate is not None and rate >= 0.995 * GOAL_REDIS_BATCH_MSGS_PER_S})
        base = memory.get(n)
        ratio = _ratio(row["server_us_per_msg"]["median"], base["server_us_per_msg"]["median"]) if base else None
        if ratio is not None:
            goals.append({"goal": f"diagops-redis-batch: service CPU per message <= {GOAL_REDIS_CPU_RATIO:g}x "
                                  f"diagops-batch's at {int(n):,} sockets",
                          "measured": f"{ratio:.2f}x (+ redis-server {row['redis_us_per_msg']['median']} µs/msg)",
                          "met": ratio <= GOAL_REDIS_CPU_RATIO})
    return goals


# --------------------------------------------------------------------------- printing


def _fmt(s: dict[str, float | None], digits: int = 1, suffix: str = "") -> str:
    if s["median"] is None:
        return "-"
    text = f"{s['median']:.{digits}f}{suffix}"
    if s["min"] != s["max"]:
        text += f" [dim]({s['min']:.{digits}f}–{s['max']:.{digits}f})[/]"
    return text


def print_report(doc: dict[str, Any], console: Console) -> None:
    cfg = doc["config"]
    console.print(f"\n[bold]Push benchmark[/]  {doc['command']}")
    console.print(f"{doc['started']}, {doc['machine']['cpus']} CPUs, load avg at start {doc['machine']['load_avg_at_start']}; "
                  f"each socket subscribed to one of sockets/{cfg['fanout']} executions, one {cfg['event_bytes']}-byte event "
                  f"per execution every {cfg['period_ms']:g} ms, {cfg['seconds']:g} s measured after {cfg['warmup_s']:g} s warm-up"
                  + (f", {cfg['repeat']} repeats: median (min–max)" if cfg["repeat"] > 1 else ""))

    runs = Table(title="Fan-out runs (every run; latency: from the server's `timestamp` / from the publisher's `sent_at`)")
    for col, justify in (("server", "left"), ("sockets", "right"), ("msg/s (target)", "right"), ("p50 ms", "right"),
                         ("p99 ms", "right"), ("p99.9 ms", "right"), ("µs CPU/msg", "right"), ("redis µs/msg", "right"),
                         ("server %core", "right"), ("RSS MiB", "right"),
                         ("sub %core", "right"), ("pub %core", "right"), ("pub lag p99 ms", "right"),
                         ("machine %busy", "right"), ("missing", "right"),
                         ("limited by", "left")):
        runs.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in sorted(doc["fanout_runs"], key=lambda r: (r["sockets"], r["repeat"], r["target"])):
        ls, lc = r["latency_ms"]["server_timestamp"], r["latency_ms"]["client_sent_at"]
        subs = "/".join(f"{v['core_percent']:.0f}" for k, v in r["client_cpu"].items() if k.startswith("subscriber"))
        runs.add_row(r["target"], f"{r['sockets']:,}", f"{r['delivered_msgs_per_s']:,.0f} ({r['target_msgs_per_s']:,.0f})",
                     f"{ls['p50']} / {lc['p50']}", f"{ls['p99']} / {lc['p99']}", f"{ls['p999']} / {lc['p999']}",
                     f"{r['server_cpu']['us_per_msg']}", f"{r.get('redis_cpu', {}).get('us_per_msg', '-')}",
                     f"{r['server_cpu']['core_percent']}", f"{r['server_rss_mib']}", subs,
                     f"{r['client_cpu']['publisher']['core_percent']}", f"{r['publish']['lag_ms']['p99']}",
                     f"{r['machine_busy_percent']}",
                     str(r["integrity"]["missing"]), r["limited_by"])
    console.print(runs)

    summary = doc["summary"]
    side = Table(title="Side by side" + (" (median, range over repeats)" if cfg["repeat"] > 1 else ""))
    for col in ("sockets", "server", "msg/s", "p50 ms", "p99 ms", "p99 ms (sent_at)", "µs CPU/msg", "redis µs/msg",
                "RSS MiB"):
        side.add_column(col, justify="left" if col == "server" else "right")
    sockets = sorted({int(n) for per in summary["fanout"].values() for n in per})
    for n in sockets:
        for name, per in summary["fanout"].items():
            s = per.get(str(n))
            if s:
                side.add_row(f"{n:,}", name, _fmt(s["delivered_msgs_per_s"], 0), _fmt(s["p50_ms"], 2), _fmt(s["p99_ms"], 2),
                             _fmt(s["p99_sent_at_ms"], 2), _fmt(s["server_us_per_msg"], 1), _fmt(s["redis_us_per_msg"], 1),
                             _fmt(s["server_rss_mib"], 0))
        ratios = summary["ratio_to_nchan"]
        rows = [("ours", ratios.get(str(n)))] + [(v, per.get(str(n))) for v, per in ratios.get("variants", {}).items()]
        rows = [(label, r) for label, r in rows if r]
        for k, (label, r) in enumerate(rows):
            side.add_row(f"{n:,}", f"[bold]{label} / Nchan[/]", "", "", _fmt(r["p99"], 2, "x"), _fmt(r["p99_sent_at"], 2, "x"),
                         _fmt(r["cpu_per_msg"], 2, "x"), "", "", end_section=k == len(rows) - 1)
    console.print(side)

    if summary["idle"]:
        mem = Table(title="Resident memory per idle subscribed socket (server RSS delta / sockets added)")
        for col in ("server", "sockets", "RSS MiB", "KiB per socket"):
            mem.add_column(col, justify="left" if col == "server" else "right")
        for name, per in summary["idle"].items():
            for n, p in sorted(per.items(), key=lambda kv: int(kv[0])):
                mem.add_row(name, f"{int(n):,} ({p['open']:,} open)", f"{p['rss_mib']}", f"{p['kib_per_socket']}")
        console.print(mem)

    goals = Table(title="Goals")
    for col in ("goal", "measured", "met"):
        goals.add_column(col)
    for g in summary["goals"]:
        goals.add_row(g["goal"], g["measured"], "[green]yes[/]" if g["met"] else "[red]no[/]")
    console.print(goals)

    if doc.get("profile") and "self" in doc["profile"]:
        prof = Table(title=f"py-spy, our server at {doc['profile']['sockets']:,} sockets ({doc['profile']['samples']} samples)")
        prof.add_column("self %", justify="right")
        prof.add_column("function (self time)")
        prof.add_column("incl %", justify="right")
        prof.add_column("function (inclusive)")
        for a, b in zip(doc["profile"]["self"][:15], doc["profile"]["inclusive"][:15]):
            prof.add_row(f"{a['percent']}", a["function"], f"{b['percent']}", b["function"])
        console.print(prof)
    console.print(f"[dim]finished in {doc['elapsed_s']} s[/]")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    to_stdout = args.json == "-"
    # The run table is wide; a pipe or a file gets 250 columns instead of rich's default 80.
    stream = sys.stderr if to_stdout else sys.stdout
    console = Console(stderr=to_stdout, width=None if stream.isatty() else 250)
    doc = run_all(args, console)
    print_report(doc, console)
    if args.json:
        text = json.dumps(doc, indent=2, default=lambda o: list(o))
        if to_stdout:
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
            console.print(f"[dim]JSON: {args.json}[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
