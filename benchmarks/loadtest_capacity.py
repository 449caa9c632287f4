"""How many diagnosis sockets one generator process holds with under 1 ms of added latency.

    .venv/bin/python benchmarks/loadtest_capacity.py [--steps 100,250,500,1000,1500]
        [--worker-steps 500,1000,2000] [--warmup 10] [--measure 20] [--out reports/out/bench-loadtest]

For each step it starts a fresh tuned `diagops serve` (engine caps lifted, speed
10), runs `diagops loadtest --host ... --users N --json` against it (one Locust
process, then `--workers 2`), and reports per step: sockets held, messages/s,
the generator's dispatch lag p50/p99 (the latency it adds to every delivery,
measured in-process by a socket-pair probe), delivery latency p50/p99 as
measured, the generator's CPU (whole process tree) and the service's CPU, and
socket-seconds per generator CPU-second. Lag, CPU and msgs/s come from a steady
window: `--warmup` seconds after the ramp (all users started within the same
second run in lockstep at first), for `--measure` seconds. Both run on this
machine's 2 cores, so the service's CPU is shown next to the generator's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.loadtest_common import SECRET, CpuSampler, pin, tuned_service  # noqa: E402
from diagops.loadtests import outputs  # noqa: E402
from diagops.loadtests.console import LiveState  # noqa: E402
from diagops.loadtests.histogram import Histogram  # noqa: E402
from diagops.loadtests.results import read_timeseries  # noqa: E402


def run_step(users: int, workers: int, measure_s: float, spawn_rate: float, warmup_s: float, out: Path,
             pinned: bool = False) -> dict[str, Any]:
    """One run: ramp, warm up (the ramp leaves users in lockstep), then `measure_s` of steady state."""
    out.mkdir(parents=True, exist_ok=True)
    (out / outputs.TIMESERIES).unlink(missing_ok=True)  # never follow a previous run's file
    ramp_s = users / spawn_rate
    steady_from = ramp_s + warmup_s
    duration = steady_from + measure_s
    with tuned_service(out / outputs.SERVICE_LOG) as service:
        argv = [sys.executable, "-m", "diagops", "loadtest", "--host", service.url, "--token-secret", SECRET,
                "--users", str(users), "--spawn-rate", f"{spawn_rate:g}", "--duration", f"{duration:g}s",
                "--workers", str(workers), "--json", "--out", str(out)]
        assert service.child is not None
        pin(service.child.pid, {0} if pinned else None)
        proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=(lambda: os.sched_setaffinity(0, {1})) if pinned else None)
        sampler = CpuSampler({"generator": proc.pid, "service": service.child.pid}).start()
        live = LiveState(out / outputs.TIMESERIES, duration, users)
        steady_start = steady_end = None
        while proc.poll() is None:
            live.poll()
            row = live.latest
            now = time.monotonic()
            if steady_start is None and row.get("t", 0.0) >= steady_from:
                steady_start = now
            if steady_end is None and row.get("phase") in ("stopping", "stopped"):
                steady_end = now
            time.sleep(0.2)  # polling a file for the benchmark's own bookkeeping
        stdout, stderr = proc.communicate()
        sampler.stop()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"loadtest failed at {users} users: {stderr.strip()[-500:]}")
    results = json.loads(stdout)
    steady = [r for r in read_timeseries(out / outputs.TIMESERIES) if r["t"] >= steady_from and r["phase"] == "running"]
    lag = Histogram()
    progress_events = 0
    for row in steady:
        lag.merge(Histogram.from_dict(row["lag"]))
        progress_events += row["events"]
    gen_cpu = sampler.rate("generator", steady_start, steady_end) if steady_start and steady_end else None
    svc_cpu = sampler.rate("service", steady_start, steady_end) if steady_start and steady_end else None
    machine = sampler.rate("machine", steady_start, steady_end) if steady_start and steady_end else None
    other_cpu = None if machine is None or gen_cpu is None or svc_cpu is None else max(machine - gen_cpu - svc_cpu, 0.0)
    user_procs = [p for p in results["generator"]["processes"] if p["runs_users"]]
    return {
        "users": users,
        "workers": workers,
        "pinned": pinned,
        "peak_sockets": results["connections"]["peak_open"],
        "steady_s": len(steady),
        "messages_per_s": round(progress_events / max(len(steady), 1)),
        "added_latency_p50_ms": _ms(lag.percentile(0.5)),
        "added_latency_p99_ms": _ms(lag.percentile(0.99)),
        "added_latency_max_ms": _ms(lag.maximum if lag.count else None),
        "delivery_p50_ms": _ms(results["latency"]["progress"]["p50"]),
        "delivery_p99_ms": _ms(results["latency"]["progress"]["p99"]),
        "generator_cpu": None if gen_cpu is None else round(gen_cpu, 3),
        "generator_cpu_max_process_percent": max(p["cpu_percent"]["max"] or 0 for p in user_procs),
        "service_cpu": None if svc_cpu is None else round(svc_cpu, 3),
        "other_cpu": None if other_cpu is None else round(other_cpu, 3),
        "socket_seconds_per_cpu_second": None if not gen_cpu else round(users / gen_cpu),
        "saturated": results["generator"]["saturated"],
        "verdict": results["verdict"]["passed"],
        "loss": results["loss"]["total"],
        "error_rate": results["error_rate"],
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| users | workers | sockets | msgs/s | added p50 ms | added p99 ms | added max ms | delivery p50 ms "
            "| delivery p99 ms | generator CPU | service CPU | other CPU | socket-s per CPU-s | loss | verdict |")
    lines = [head, "|" + "---|" * 15]
    for r in rows:
        lines.append(
            f"| {r['users']} | {r['workers']} | {r['peak_sockets']} | {r['messages_per_s']} | {r['added_latency_p50_ms']} "
            f"| {r['added_latency_p99_ms']} | {r['added_latency_max_ms']} | {r['delivery_p50_ms']} | {r['delivery_p99_ms']} "
            f"| {r['generator_cpu']} "
            f"| {r['service_cpu']} | {r['other_cpu']} | {r['socket_seconds_per_cpu_second']} | {r['loss']} | {'pass' if r['verdict'] else 'fail'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="100,250,500,1000,1500")
    parser.add_argument("--worker-steps", default="500,1000,2000")
    parser.add_argument("--measure", type=float, default=20.0, help="seconds of steady state measured per step")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds after the ramp before measuring")
    parser.add_argument("--spawn-rate", type=float, default=100.0)
    parser.add_argument("--out", type=Path, default=REPO / "reports/out/bench-loadtest")
    parser.add_argument("--pin", action="store_true", help="service on CPU 0, generator on CPU 1 (needs 2+ cores)")
    args = parser.parse_args()
    rows = []
    plan = [(int(n), 0) for n in args.steps.split(",") if n] + [(int(n), 2) for n in args.worker_steps.split(",") if n]
    for users, workers in plan:
        row = run_step(users, workers, args.measure, args.spawn_rate, args.warmup,
                       args.out / f"u{users}-w{workers}{'-pinned' if args.pin else ''}", pinned=args.pin)
        rows.append(row)
        print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "capacity.json").write_text(json.dumps(rows, indent=2))
    print(table(rows))
    under = [r for r in rows if r["workers"] == 0 and r["added_latency_p99_ms"] < 1.0]
    best = max((r["users"] for r in under), default=None)
    print(f"\nOne generator process, added latency p99 < 1 ms: up to {best} sockets (of the steps tried)")


if __name__ == "__main__":
    main()
