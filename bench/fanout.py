"""`diagops bench push`: fan-out capacity, raised step by step until an objective breaks.

Each step is one run of the fan-out load client (diagops.bench.wsload, installed with
the package; benchmarks/push_bench.py runs the same one): `sockets` subscribed sockets,
`watchers` per diagnosis (1: the mini program's case), one event per diagnosis every
`period_s`, published over HTTP from a separate process. The step holds when delivery
p99 stays within the delivery objective's threshold, nothing is lost and every socket
opened; the measured capacity is the last step that held. Each step says which process
limited it, so a saturated load client is never reported as the server's capacity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from diagops.bench.target import Target


def step_list(start: int, bound: int) -> list[int]:
    """The socket counts of a run: start, then 1-2-5 steps (…, 500, 1,000, 2,000, 5,000, …) up to
    `bound`, which is always the last; strictly increasing."""
    if start < 1 or bound < start:
        raise ValueError("the first step must be at least 1 and at most the bound")
    steps, decade = [start], 1
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * decade
            if value > bound:
                return steps + ([bound] if steps[-1] < bound else [])
            if value > steps[-1]:
                steps.append(value)
        decade *= 10


def server_settings() -> dict[str, str]:
    """The embedded service's limits lifted, so that the steps measure capacity, not the rate limiter."""
    from diagops.bench.wsload.target import BENCH_ENV

    return dict(BENCH_ENV)


def run_step(target: Target, sockets: int, watchers: int, seconds: float, period_s: float, warmup_s: float) -> dict[str, Any]:
    """One step's figures, from the load client's run."""
    from urllib.parse import urlsplit

    from diagops.bench import wsload  # the load client: imported by the step, not by --help

    parts = urlsplit(target.url)
    wsload.raise_nofile(sockets + 256)
    load_target = wsload.Target("diagops", "diagops", parts.hostname or "127.0.0.1", parts.port or 80,
                                (target.pid,) if target.pid else (), secret=target.secret)
    return wsload.run_fanout(load_target, sockets, seconds, fanout=watchers, period_s=period_s, warmup_s=warmup_s)


def judge_step(raw: dict[str, Any], threshold_ms: float) -> dict[str, Any]:
    """The row the table and JSON show for one step, with `held` and why not."""
    latency = raw["latency_ms"]["server_timestamp"]
    integrity, connect = raw["integrity"], raw["connect"]
    errors = sum(connect["failed"].values()) + integrity["missing"] + integrity["gaps"] + integrity["dropped_sockets"]
    broken = []
    if latency["p99"] is None or latency["p99"] > threshold_ms:
        broken.append(f"delivery p99 {latency['p99']} ms > {threshold_ms:g} ms")
    if errors:
        broken.append(f"{errors} errors (failed connects, lost or dropped)")
    if raw["delivered_vs_target"] < 0.95:
        broken.append(f"delivered {raw['delivered_vs_target']:.0%} of the target rate")
    client_limited = any(word in raw["limited_by"] for word in ("client", "machine", "publishes behind"))
    return {"sockets": raw["sockets"], "diagnoses": raw["executions"], "watchers_per_diagnosis": raw["fanout"],
            "events_per_s": raw["delivered_msgs_per_s"], "target_events_per_s": raw["target_msgs_per_s"],
            "delivery_p50_ms": latency["p50"], "delivery_p99_ms": latency["p99"], "errors": errors,
            "server_cpu_us_per_event": raw["server_cpu"].get("us_per_msg"), "server_rss_mib": raw["server_rss_mib"],
            "limited_by": raw["limited_by"], "client_limited": client_limited, "held": not broken, "broken": broken}


def climb(steps: list[int], run: Callable[[int], dict[str, Any]], threshold_ms: float,
          on_step: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Run the steps in order, stopping after the first that does not hold."""
    rows = []
    for n, sockets in enumerate(steps, 1):
        rows.append(judge_step(run(sockets), threshold_ms))
        if on_step is not None:
            on_step(n)
        if not rows[-1]["held"]:
            break
    return rows
