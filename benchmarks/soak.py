"""Soak: does the embedded store stay flat under its budget?

    .venv/bin/python -m benchmarks.soak --sockets 1000 --rate 1000 --duration 600 --budget-mib 256

Starts `diagops serve` (memory store, 127.0.0.1, a free port, `store.max_bytes` from
`--budget-mib`), then N sockets that each watch one diagnosis after another while events are
published over HTTP at a steady rate (see soak_load.py). Every `--sample-s` seconds it prints the
server's RSS, the store's bytes and executions, evictions and refusals (from `/metrics`), the
delivery p99 of that interval and the losses so far; at the end the series as a chart and
whether RSS stayed flat (within `--flat-pct`) once the store reached its budget. A benchmark
with numbers in its output, not a test: see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchmarks` and the service importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import psutil  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from benchmarks.servers import diagops_server  # noqa: E402
from benchmarks.soak_load import Soak, Workload  # noqa: E402
from diagops.bench.wsload import raise_nofile  # noqa: E402
from diagops.bench.wsload.target import tokens_for  # noqa: E402

MIB = 1024 * 1024
COLUMNS = ("t_s", "rss_mib", "store_mib", "executions", "evicted_finished", "evicted_idle", "refused",
           "delivered_per_s", "p99_ms", "cli_lag_ms", "gc2_n", "gc_max_ms", "gc_ms", "srv_cpu", "cli_cpu", "lost", "duplicates")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sockets", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=1000.0, help="events published per second, in all")
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of publishing")
    ap.add_argument("--budget-mib", type=float, default=256.0, help="store.max_bytes, in MiB")
    ap.add_argument("--events-per-execution", type=int, default=20)
    ap.add_argument("--event-bytes", type=int, default=300, help="size of each pushed frame")
    ap.add_argument("--sample-s", type=float, default=10.0)
    ap.add_argument("--flat-pct", type=float, default=10.0, help="RSS spread allowed once the budget is reached")
    ap.add_argument("--json", dest="json_path", help="write the series and summary here ('-' for stdout)")
    ap.add_argument("--keep-logs", help="folder for the server's log (default: a temporary one)")
    args = ap.parse_args(argv)
    if args.events_per_execution < 3 or args.sockets < 1 or args.rate <= 0:
        ap.error("--events-per-execution must be >= 3, --sockets >= 1 and --rate > 0")
    return args


async def scrape(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """The store's series and the GC pause histogram from `/metrics`, by name and labels."""
    async with session.get(f"{url}/metrics") as resp:
        text = await resp.text()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if (family.name.startswith("diagops_store_") and not family.name.startswith("diagops_store_operation")) \
                or family.name == "diagops_gc_pause_seconds":
            for s in family.samples:
                values[s.name + "".join(f":{v}" for v in s.labels.values())] = s.value
    return values


def gc_interval(now: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """Collections in one interval from two scrapes of `diagops_gc_pause_seconds`: how many were
    full ones, the total pause, and the longest (the smallest bucket bound holding every pause of
    the interval: an upper bound; -1 when one took longer than the largest bound)."""
    def delta(key: str) -> float:
        return now.get(key, 0.0) - before.get(key, 0.0)

    prefix = "diagops_gc_pause_seconds_bucket:"
    les = sorted({k.rsplit(":", 1)[1] for k in now if k.startswith(prefix) and not k.endswith(":+Inf")}, key=float)
    longest = 0.0
    for g in "012":
        n = delta(f"diagops_gc_pause_seconds_count:{g}")
        if n:
            held = next((float(le) for le in les if delta(f"{prefix}{g}:{le}") >= n), -1.0)
            longest = -1.0 if held < 0 or longest < 0 else max(longest, held)
    return {"gc2_n": int(delta("diagops_gc_pause_seconds_count:2")),
            "gc_ms": round(sum(delta(f"diagops_gc_pause_seconds_sum:{g}") for g in "012") * 1000, 1),
            "gc_max_ms": round(longest * 1000, 2) if longest >= 0 else -1}


def p99_ms(latencies: list[float]) -> float:
    if not latencies:
        return 0.0
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000


async def sample_loop(soak: Soak, session: aiohttp.ClientSession, url: str, server: psutil.Process,
                      every_s: float, series: list[dict[str, Any]]) -> None:
    start, last_delivered, before = time.monotonic(), 0, {}
    client = psutil.Process()
    server.cpu_percent(), client.cpu_percent()  # start both CPU clocks: each call reads since the last
    print("  ".join(f"{c:>10}" for c in COLUMNS), flush=True)
    while True:
        await asyncio.sleep(every_s)
        t = soak.tally
        latencies, t.latencies = t.latencies, []
        lags, soak.loop_lags = soak.loop_lags, []
        m = await scrape(session, url)
        gc_row, before = gc_interval(m, before), m
        row = {
            "t_s": round(time.monotonic() - start), "rss_mib": round(server.memory_info().rss / MIB, 1),
            "store_mib": round(m.get("diagops_store_bytes", 0) / MIB, 1),
            "executions": int(m.get("diagops_store_executions", 0)),
            "evicted_finished": int(m.get("diagops_store_evictions_total:finished", 0)),
            "evicted_idle": int(m.get("diagops_store_evictions_total:idle", 0)),
            "refused": int(m.get("diagops_store_refusals_total", 0)),
            "delivered_per_s": round((t.delivered - last_delivered) / every_s), "p99_ms": round(p99_ms(latencies), 1),
            "cli_lag_ms": round(p99_ms(lags), 1), **gc_row, "srv_cpu": round(server.cpu_percent()), "cli_cpu": round(client.cpu_percent()),
            "lost": t.lost, "duplicates": t.duplicates,
        }
        last_delivered = t.delivered
        series.append(row)
        print("  ".join(f"{row[c]:>10}" for c in COLUMNS), flush=True)


def chart(series: list[dict[str, Any]], budget_mib: float, width: int = 50) -> str:
    """RSS (#) and store bytes (=) per sample, on one scale, with the budget marked (|)."""
    top = max([budget_mib, *(r["rss_mib"] for r in series)]) or 1.0
    lines = [f"{'t_s':>6}  0{' ' * (width - 1)}{top:.0f} MiB   (# RSS, = store bytes, | budget)"]
    mark = round(budget_mib / top * width)
    for r in series:
        bar = [" "] * (width + 1)
        for k in range(round(r["rss_mib"] / top * width)):
            bar[k] = "#"
        for k in range(round(r["store_mib"] / top * width)):
            bar[k] = "="
        bar[min(mark, width)] = "|"
        lines.append(f"{r['t_s']:>6}  {''.join(bar)}  {r['rss_mib']:.0f} / {r['store_mib']:.0f}")
    return "\n".join(lines)


def summarize(series: list[dict[str, Any]], soak: Soak, budget_mib: float, flat_pct: float) -> dict[str, Any]:
    """Flatness is judged from the first sample at >= 90 % of the budget to the end."""
    t = soak.tally
    reached = next((k for k, r in enumerate(series) if r["store_mib"] >= 0.9 * budget_mib), None)
    after = series[reached:] if reached is not None else []
    rss = [r["rss_mib"] for r in after]
    spread = (max(rss) - min(rss)) / min(rss) * 100 if rss else None
    return {
        "published": t.published, "delivered": t.delivered, "lost": t.lost, "duplicates": t.duplicates,
        "trimmed_subscriptions": t.trimmed, "not_found": t.not_found, "publish_errors": t.publish_errors,
        "budget_reached_at_s": series[reached]["t_s"] if reached is not None else None,
        "rss_after_budget_mib": [min(rss), max(rss)] if rss else None,
        "rss_spread_pct": round(spread, 1) if spread is not None else None,
        "rss_flat": spread is not None and spread <= flat_pct and len(rss) >= 2,
        "max_p99_ms": max((r["p99_ms"] for r in series), default=None),
        "median_p99_ms_after_budget": statistics.median(r["p99_ms"] for r in after) if after else None,
        "max_p99_ms_after_budget": max((r["p99_ms"] for r in after), default=None),
        "max_gc_pause_ms": max((r["gc_max_ms"] for r in series), default=None, key=lambda v: float("inf") if v < 0 else v),
        "max_client_loop_lag_p99_ms": max((r["cli_lag_ms"] for r in series), default=None),
        "client_cpu_pct_max": max((r["cli_cpu"] for r in series), default=None),
        "store_bytes_per_rss": round(after[-1]["store_mib"] / after[-1]["rss_mib"], 2) if after else None,
    }


async def soak_run(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    env = {"DIAGOPS_STORE__MAX_BYTES": str(int(args.budget_mib * MIB))}
    with diagops_server(log_dir, env=env, name="soak") as target:
        subscribe, publish = tokens_for(target)
        url = f"http://{target.host}:{target.port}"
        workload = Workload(url, args.sockets, args.rate, args.events_per_execution, args.event_bytes,
                            target.owner, subscribe or "", publish or "")
        soak, series = Soak(workload), []
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as sockets, \
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), timeout=timeout) as http:
            sampler = asyncio.create_task(sample_loop(soak, http, url, psutil.Process(target.pids[0]), args.sample_s, series))
            try:
                await soak.run_with(sockets, http, args.duration)
            finally:
                sampler.cancel()
        return {"config": vars(args), "series": series,
                "summary": summarize(series, soak, args.budget_mib, args.flat_pct), "chart": chart(series, args.budget_mib)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_nofile(args.sockets + 1000)
    log_dir = Path(args.keep_logs) if args.keep_logs else Path(tempfile.mkdtemp(prefix="diagops-soak-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"soak: {args.sockets} sockets, {args.rate:g} events/s for {args.duration:g} s, budget "
          f"{args.budget_mib:g} MiB, {args.events_per_execution} events per execution (server log in {log_dir})",
          flush=True)
    try:
        result = asyncio.run(soak_run(args, log_dir))
    except KeyboardInterrupt:
        return 130
    print(result["chart"])
    print(json.dumps(result["summary"], indent=2))
    if args.json_path == "-":
        json.dump(result, sys.stdout, indent=2)
    elif args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
