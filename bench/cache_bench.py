"""`diagops bench cache`: one run (or a sweep of runs) and the figures that give it meaning.

Each run replays the same stream against a service with a cold cache; beside the hit
ratio the client saw and the one the service counted, it puts what Belady's offline
optimum and an unbounded cache reach on exactly the requests that were answered, and
both policies the service can run (`cache.policy`: W-TinyLFU, LRU) simulated offline
with the service's own cache classes (the service stores a result only when its
diagnosis finishes, so a request that comes while its twin is still running misses;
the gap between the service and its policy's simulation is that).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from diagops.bench.cache_run import CacheSamples, Drive, drive
from diagops.bench.optimum import belady_hits, lru_hits, tinylfu_hits, unbounded_hits
from diagops.bench.target import Target

SWEEPS = ("capacity", "ttl")


@dataclass(frozen=True)
class CacheSettings:
    """The cache the run is judged against: the embedded service's, or what --target is said to have."""

    capacity: int
    ttl_s: float
    policy: str = "tinylfu"  # cache.policy


def measure(target: Target, plan: Drive, settings: CacheSettings,
            on_answer: Callable[[int], None] | None = None) -> dict[str, Any]:
    """One run's figures (the `run` object of the JSON)."""
    samples = asyncio.run(drive(target, plan, on_answer))
    return figures(samples, settings)


def _ratio(hits: float, total: int) -> float | None:
    return hits / total if total else None


def figures(samples: CacheSamples, settings: CacheSettings) -> dict[str, Any]:
    """Hit ratios (client, server, offline references), counts and latency of one run."""
    trace: Sequence[Hashable] = samples.sent
    n = len(trace)
    timing = {"times": samples.due, "ttl_s": settings.ttl_s} if settings.ttl_s > 0 else {"times": None, "ttl_s": None}
    off = settings.ttl_s <= 0
    belady = 0 if off else belady_hits(trace, settings.capacity, **timing)
    unbounded = 0 if off else unbounded_hits(trace, **timing)
    lru = 0 if off else lru_hits(trace, settings.capacity, **timing)
    tinylfu = 0 if off else tinylfu_hits(trace, settings.capacity, **timing)
    client = _ratio(samples.client_hits, n)
    best = _ratio(belady, n)
    return {
        "cache": {"capacity": settings.capacity, "ttl_s": settings.ttl_s, "policy": settings.policy},
        "hit_ratio": {"client": client, "server": _ratio(samples.server_hits, round(samples.server_hits + samples.server_misses)),
                      "belady": best, "unbounded": _ratio(unbounded, n), "lru_offline": _ratio(lru, n),
                      "tinylfu_offline": _ratio(tinylfu, n)},
        "share_of_optimum": (client / best) if client is not None and best else None,
        "counts": {"answered": n, "distinct": len(set(trace)), "client_hits": samples.client_hits,
                   "server_hits": round(samples.server_hits), "server_misses": round(samples.server_misses),
                   "agree": samples.agree, "errors": dict(samples.errors), "late_sends": samples.late_sends},
        "latency": {"hit": samples.hit_latency.summary(), "miss": samples.miss_latency.summary()},
        "elapsed_s": samples.elapsed_s,
    }


def problems(run: dict[str, Any]) -> list[str]:
    """What makes a run not a measurement, whatever its hit ratio."""
    counts = run["counts"]
    found = []
    if not counts["agree"]:
        found.append(f"client and server disagree: client saw {counts['client_hits']} hits of {counts['answered']}, "
                     f"the service counted {counts['server_hits']} hits and {counts['server_misses']} misses "
                     "(another client on the target, or a miscount)")
    if counts["errors"]:
        found.append("requests failed: " + ", ".join(f"{k} ×{v}" for k, v in sorted(counts["errors"].items())))
    if not counts["answered"]:
        found.append("no request was answered")
    return found


def sweep_points(parameter: str, values: list[float], configured: float) -> list[float]:
    """The sweep's values in increasing order, the configured one included (the verdict's point)."""
    if parameter not in SWEEPS:
        raise ValueError(f"--sweep must be one of {', '.join(SWEEPS)}")
    return sorted(set(values) | {configured})
