"""Push benchmark, store and process axes: memory vs Redis, one process vs `--workers N`.

    .venv/bin/python -m benchmarks.redis_bench                      # memory/1, redis/1, redis/2 at 1,000 sockets
    .venv/bin/python -m benchmarks.redis_bench --store redis --workers 2 --seconds 20 --repeat 3 --json out.json

The workload is push_bench.py's fan-out (diagops.bench.wsload, reused by import): each
socket subscribed to one of sockets/10 executions, one ~250-byte event per execution every
50 ms published over HTTP, measured for `--seconds` after a warm-up. For each configuration:
delivered messages/s, delivery p99 (from the service's `timestamp` and from the publisher's
`sent_at`), and CPU per 1,000 delivered messages, split into the service's processes and
redis-server (a Redis store's cost includes Redis). Each Redis run gets a fresh redis-server
(append-only, fsync every second) on a free port. `memory` with more than one worker is
skipped: workers share nothing without Redis.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchmarks` and the service importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.redis_server import local_redis  # noqa: E402
from benchmarks.servers import diagops_server  # noqa: E402
from diagops.bench.wsload import CpuWindow, Target, raise_nofile, run_fanout  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.redis_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default="memory,redis", help="stores to compare: memory, redis (default both)")
    ap.add_argument("--workers", default="1,2", help="process counts to compare (default 1,2; >1 needs redis)")
    ap.add_argument("--sockets", type=int, default=1000, help="sockets per run (default 1000)")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured window per run (default 10)")
    ap.add_argument("--warmup", type=float, default=3.0, help="publishing before the window (default 3)")
    ap.add_argument("--period-ms", type=float, default=50.0, help="one event per execution every N ms (default 50)")
    ap.add_argument("--fanout", type=int, default=10, help="sockets per execution (default 10)")
    ap.add_argument("--client-procs", type=int, default=1, help="subscriber processes (default 1; +1 publisher)")
    ap.add_argument("--repeat", type=int, default=1, help="run every configuration N times (median and range)")
    ap.add_argument("--json", metavar="PATH", help="write every figure as JSON to PATH ('-': stdout)")
    return ap.parse_args(argv)


def configurations(stores: list[str], workers: list[int]) -> list[tuple[str, int]]:
    return [(store, n) for store in stores for n in workers if store == "redis" or n == 1]


@contextmanager
def service(store: str, workers: int, log_dir: Path) -> Iterator[tuple[Target, int | None]]:
    """`diagops serve` as configured, plus its redis-server; yields the target and Redis's pid."""
    with ExitStack() as stack:
        args: list[str] = []
        redis_pid = None
        if store == "redis":
            redis = stack.enter_context(local_redis())
            args += ["--redis-url", redis.url]
            redis_pid = redis.pid
        if workers > 1:
            args += ["--workers", str(workers)]
        target = stack.enter_context(diagops_server(log_dir, args=args, name=f"diagops-{store}-{workers}"))
        if workers > 1:
            _wait_for_workers(target.pids[0], workers)
        yield target, redis_pid


def _wait_for_workers(supervisor: int, workers: int, timeout_s: float = 30.0) -> None:
    """/readyz answers once any worker serves; a run must start with all of them listening."""
    deadline = time.monotonic() + timeout_s
    while True:
        children = psutil.Process(supervisor).children()
        listening = [c for c in children if any(conn.status == psutil.CONN_LISTEN for conn in c.net_connections("tcp"))]
        if len(listening) >= workers:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(listening)} of {workers} workers listening after {timeout_s:.0f} s")
        time.sleep(0.05)


def one_run(store: str, workers: int, args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    with service(store, workers, log_dir) as (target, redis_pid):
        redis_cpu = CpuWindow([redis_pid]) if redis_pid else None
        measured = dataclasses.replace(target, pids=target.pids + ((redis_pid,) if redis_pid else ()))
        result = run_fanout(measured, args.sockets, args.seconds, fanout=args.fanout, period_s=args.period_ms / 1000,
                            warmup_s=args.warmup, subscriber_procs=args.client_procs,
                            on_window=redis_cpu.start if redis_cpu else None)
    delivered = result["delivered_in_window"]
    total_cpu = result["server_cpu"]["seconds"]
    redis_seconds = redis_cpu.result() if redis_cpu else 0.0
    redis_seconds = redis_seconds or 0.0
    per_k = (lambda s: round(s / delivered * 1e6, 1) if delivered else None)  # CPU ms per 1,000 messages
    result["config"] = {"store": store, "workers": workers}
    result["cpu_ms_per_1000_msgs"] = {
        "total": per_k(total_cpu), "service": per_k(total_cpu - redis_seconds), "redis": per_k(redis_seconds),
    }
    return result


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def stat(values: list[float | None]) -> dict[str, float | None]:
        vals = [v for v in values if v is not None]
        if not vals:
            return {"median": None, "min": None, "max": None}
        return {"median": round(statistics.median(vals), 2), "min": round(min(vals), 2), "max": round(max(vals), 2)}

    rows = []
    for key in dict.fromkeys((r["config"]["store"], r["config"]["workers"]) for r in runs):
        group = [r for r in runs if (r["config"]["store"], r["config"]["workers"]) == key]
        rows.append({
            "store": key[0], "workers": key[1], "runs": len(group),
            "msgs_per_s": stat([r["delivered_msgs_per_s"] for r in group]),
            "target_msgs_per_s": group[0]["target_msgs_per_s"],
            "p99_ms": stat([r["latency_ms"]["server_timestamp"]["p99"] for r in group]),
            "p99_sent_at_ms": stat([r["latency_ms"]["client_sent_at"]["p99"] for r in group]),
            "cpu_ms_per_1000": stat([r["cpu_ms_per_1000_msgs"]["total"] for r in group]),
            "service_cpu_ms_per_1000": stat([r["cpu_ms_per_1000_msgs"]["service"] for r in group]),
            "redis_cpu_ms_per_1000": stat([r["cpu_ms_per_1000_msgs"]["redis"] for r in group]),
            "missing": sum(r["integrity"]["missing"] for r in group),
            "gaps": sum(r["integrity"]["gaps"] for r in group),
            "duplicates": sum(r["integrity"]["duplicates"] for r in group),
            "limited_by": sorted({r["limited_by"] for r in group}),
        })
    return rows


def _fmt(s: dict[str, float | None], digits: int = 1) -> str:
    if s["median"] is None:
        return "-"
    text = f"{s['median']:.{digits}f}"
    return text if s["min"] == s["max"] else f"{text} [dim]({s['min']:.{digits}f}–{s['max']:.{digits}f})[/]"


def print_report(doc: dict[str, Any], console: Console) -> None:
    cfg = doc["config"]
    console.print(f"\n[bold]Store/process benchmark[/]  {doc['command']}")
    console.print(f"{cfg['sockets']:,} sockets over {cfg['sockets'] // cfg['fanout']} executions, one event per execution "
                  f"every {cfg['period_ms']:g} ms, {cfg['seconds']:g} s measured; {doc['machine']['cpus']} CPUs; "
                  "CPU counts the service's processes and redis-server, not the load clients")
    table = Table()
    for col in ("store", "workers", "msg/s (target)", "p99 ms", "p99 ms (sent_at)", "CPU ms/1k msgs", "service", "redis",
                "missing/gaps/dups", "limited by"):
        table.add_column(col, justify="left" if col in ("store", "limited by") else "right")
    for row in doc["summary"]:
        table.add_row(row["store"], str(row["workers"]), f"{_fmt(row['msgs_per_s'], 0)} ({row['target_msgs_per_s']:,.0f})",
                      _fmt(row["p99_ms"], 2), _fmt(row["p99_sent_at_ms"], 2), _fmt(row["cpu_ms_per_1000"]),
                      _fmt(row["service_cpu_ms_per_1000"]), _fmt(row["redis_cpu_ms_per_1000"]),
                      f"{row['missing']}/{row['gaps']}/{row['duplicates']}", "; ".join(row["limited_by"]))
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stores = [s for s in args.store.replace(" ", "").split(",") if s]
    unknown = set(stores) - {"memory", "redis"}
    if unknown:
        print(f"redis_bench: unknown store {sorted(unknown)[0]!r} (memory or redis)", file=sys.stderr)
        return 2
    workers = [int(n) for n in args.workers.replace(" ", "").split(",") if n]
    configs = configurations(stores, workers)
    if not configs:
        print("redis_bench: nothing to run (more than one worker needs --store redis)", file=sys.stderr)
        return 2
    to_stdout = args.json == "-"
    console = Console(stderr=to_stdout, width=None if (sys.stderr if to_stdout else sys.stdout).isatty() else 200)
    nofile = raise_nofile()
    log_dir = Path(tempfile.mkdtemp(prefix="redis-bench-"))
    doc: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "-m", "benchmarks.redis_bench", *sys.argv[1:]]),
        "machine": {"cpus": psutil.cpu_count(), "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
                    "nofile": list(nofile), "python": sys.version.split()[0]},
        "config": {"sockets": args.sockets, "seconds": args.seconds, "warmup_s": args.warmup, "period_ms": args.period_ms,
                   "fanout": args.fanout, "subscriber_procs": args.client_procs, "repeat": args.repeat},
        "runs": [],
    }
    try:
        for rep in range(args.repeat):
            for store, n in configs if rep % 2 == 0 else list(reversed(configs)):  # alternate who goes first
                console.print(f"[dim]run {rep + 1}/{args.repeat}: {store} store, {n} worker(s), {args.sockets} sockets ...[/]")
                result = one_run(store, n, args, log_dir)
                result["repeat"] = rep
                doc["runs"].append(result)
                console.print(f"[dim]  {result['delivered_msgs_per_s']:.0f} msg/s, p99 "
                              f"{result['latency_ms']['server_timestamp']['p99']} ms, "
                              f"{result['cpu_ms_per_1000_msgs']['total']} ms CPU/1k msgs, limited by: {result['limited_by']}[/]")
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
    doc["summary"] = summarize(doc["runs"])
    print_report(doc, console)
    if args.json:
        text = json.dumps(doc, indent=2, default=list)
        if to_stdout:
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
