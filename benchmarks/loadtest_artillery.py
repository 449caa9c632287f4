"""The same diagnosis scenario in Artillery, on this machine: sockets per generator CPU-second.

    .venv/bin/python benchmarks/loadtest_artillery.py [--steps 100,500,1000] [--warmup 10] [--measure 20]
        [--artillery-dir /tmp/diagops-artillery] [--out reports/out/bench-artillery]

Installs Artillery 2 into a temporary directory the first time (`npm install
--ignore-scripts artillery@2`: without that flag its Playwright dependency tries to
download a browser and the install fails; nothing lands in the repository),
then for each step starts a fresh tuned `diagops serve`, mints one token per
virtual user, and runs `benchmarks/loadtest_artillery.js` with N users arriving
at `--spawn-rate` and all ending together. CPU of Artillery's process tree and
of the service are sampled over the same steady window as the Locust benchmark
(after the ramp and a warm-up); figures come from Artillery's JSON report.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.loadtest_common import SECRET, CpuSampler, pin, tuned_service  # noqa: E402
from diagops.loadtests import outputs  # noqa: E402
from diagops.push.auth import mint_token  # noqa: E402

PROCESSOR = Path(__file__).with_name("loadtest_artillery.js")


def install(directory: Path) -> Path:
    """Artillery's CLI in `directory` (installed there once); returns its path."""
    binary = directory / "node_modules" / ".bin" / "artillery"
    if binary.exists():
        return binary
    if shutil.which("npm") is None:
        raise SystemExit("npm is not installed: Artillery needs Node.js and npm")
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "package.json").exists():
        subprocess.run(["npm", "init", "-y"], cwd=directory, check=True, capture_output=True)
    subprocess.run(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", "artillery@2"],
                   cwd=directory, check=True, timeout=900)
    return binary


def scenario(target: str, users: int, spawn_rate: float, end_at_ms: float, tokens: Path) -> dict[str, Any]:
    ramp_s = max(1, round(users / spawn_rate))
    return {
        "config": {
            "target": target,
            "phases": [{"duration": ramp_s, "arrivalRate": max(1, round(users / ramp_s)), "maxVusers": users}],
            "payload": {"path": str(tokens), "fields": ["token"], "order": "sequence", "skipHeader": True},
            "processor": str(PROCESSOR),
            "variables": {"end_at_ms": [str(int(end_at_ms))]},
        },
        "scenarios": [{"name": "diagnosis socket", "flow": [{"function": "session"}]}],
    }


def run_step(binary: Path, users: int, spawn_rate: float, warmup_s: float, measure_s: float, out: Path,
             pinned: bool = False) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    ramp_s = users / spawn_rate
    with tuned_service(out / outputs.SERVICE_LOG) as service:
        assert service.child is not None
        pin(service.child.pid, {0} if pinned else None)
        tokens = out / "tokens.csv"
        with open(tokens, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["token"])
            for i in range(users):
                writer.writerow([mint_token(SECRET, f"artillery-{i}", ttl_s=3600)])
        launch = time.time()
        end_at_ms = (launch + 3.0 + ramp_s + warmup_s + measure_s) * 1000  # ~3 s for Artillery to start
        script = out / "scenario.yml"
        script.write_text(json.dumps(scenario(service.url, users, spawn_rate, end_at_ms, tokens), indent=1))
        report = out / "report.json"
        report.unlink(missing_ok=True)
        log = open(out / "artillery.log", "w")
        # NODE_PATH: the processor lives in the repository, its `ws` in the temporary install.
        env = {**os.environ, "NODE_PATH": str(binary.parents[1])}
        proc = subprocess.Popen([str(binary), "run", "--quiet", "-o", str(report), str(script)], cwd=binary.parents[2],
                                stdout=log, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=(lambda: os.sched_setaffinity(0, {1})) if pinned else None)
        sampler = CpuSampler({"generator": proc.pid, "service": service.child.pid}).start()
        steady_start = time.monotonic() + (launch + 3.0 + ramp_s + warmup_s - time.time())
        steady_end = time.monotonic() + (end_at_ms / 1000 - time.time()) - 0.5
        deadline = steady_end + 60
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # waiting on a child for the benchmark's own bookkeeping
        if proc.poll() is None:
            proc.kill()
        sampler.stop()
        log.close()
    data = json.loads(report.read_text())
    agg = data["aggregate"]
    summaries, counters = agg.get("summaries", {}), agg.get("counters", {})
    gen_cpu = sampler.rate("generator", steady_start, steady_end)
    svc_cpu = sampler.rate("service", steady_start, steady_end)
    machine = sampler.rate("machine", steady_start, steady_end)
    steady_from = launch + 3.0 + ramp_s + warmup_s
    steady_events = _steady_counter(data, "diagops.events_received", steady_from, end_at_ms / 1000)
    lag_p50, lag_p99, lag_max = _steady_lag(data, steady_from, end_at_ms / 1000)

    def q(name: str, key: str) -> float | None:
        value = summaries.get(name, {}).get(key)
        return None if value is None else round(float(value), 3)

    return {
        "generator": "artillery",
        "users": users,
        "pinned": pinned,
        "sockets_opened": counters.get("diagops.sockets_opened", 0),
        "messages_per_s": steady_events,
        "added_latency_p50_ms": lag_p50,
        "added_latency_p99_ms": lag_p99,
        "added_latency_max_ms": lag_max,
        "added_latency_whole_run_p99_ms": q("diagops.dispatch_lag", "p99"),
        "delivery_p50_ms": q("diagops.progress", "p50"),
        "delivery_p99_ms": q("diagops.progress", "p99"),
        "generator_cpu": None if gen_cpu is None else round(gen_cpu, 3),
        "service_cpu": None if svc_cpu is None else round(svc_cpu, 3),
        "other_cpu": None if None in (machine, gen_cpu, svc_cpu) else round(max(machine - gen_cpu - svc_cpu, 0), 3),
        "socket_seconds_per_cpu_second": None if not gen_cpu else round(users / gen_cpu),
        "completed": counters.get("diagops.completed", 0),
        "lost_events": counters.get("diagops.events_lost", 0),
        "timed_out": counters.get("diagops.timed_out", 0),
        "vusers_failed": counters.get("vusers.failed", 0),
    }


def _steady_periods(report: dict[str, Any], start_s: float, end_s: float) -> list[dict[str, Any]]:
    """Artillery's 10-s intermediate reports that lie wholly inside the steady window."""
    return [p for p in report.get("intermediate", [])
            if start_s * 1000 <= int(p.get("period", 0)) and int(p.get("period", 0)) + 10_000 <= end_s * 1000]


def _steady_lag(report: dict[str, Any], start_s: float, end_s: float) -> tuple[float | None, float | None, float | None]:
    """Dispatch lag in the steady window: median of the periods' p50, worst period's p99, max.

    Artillery's summaries per period cannot be merged exactly (the Locust side merges
    its histograms), so the p99 is the worst 10-s period's: if anything, an overstatement.
    """
    lags = [p["summaries"]["diagops.dispatch_lag"] for p in _steady_periods(report, start_s, end_s)
            if "diagops.dispatch_lag" in p.get("summaries", {})]
    if not lags:
        return None, None, None
    p50s = sorted(float(x["p50"]) for x in lags)
    return p50s[len(p50s) // 2], max(float(x["p99"]) for x in lags), max(float(x["max"]) for x in lags)


def _steady_counter(report: dict[str, Any], name: str, start_s: float, end_s: float) -> int | None:
    """Events/s over Artillery's intermediate periods that fall inside the steady window."""
    inside = _steady_periods(report, start_s, end_s)
    if not inside:
        return None
    total = sum(p.get("counters", {}).get(name, 0) for p in inside)
    return round(total / (10 * len(inside)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="100,500,1000")
    parser.add_argument("--spawn-rate", type=float, default=100.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--measure", type=float, default=20.0)
    parser.add_argument("--artillery-dir", type=Path, default=Path("/tmp/diagops-artillery"))
    parser.add_argument("--out", type=Path, default=REPO / "reports/out/bench-artillery")
    parser.add_argument("--pin", action="store_true", help="service on CPU 0, generator on CPU 1 (needs 2+ cores)")
    args = parser.parse_args()
    binary = install(args.artillery_dir)
    rows = []
    for users in (int(n) for n in args.steps.split(",") if n):
        row = run_step(binary, users, args.spawn_rate, args.warmup, args.measure,
                       args.out / f"u{users}{'-pinned' if args.pin else ''}", pinned=args.pin)
        rows.append(row)
        print(json.dumps(row), flush=True)
    (args.out / "artillery.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
