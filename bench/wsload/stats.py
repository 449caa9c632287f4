"""Summaries of the figures a run collects: latency percentiles, counts merged over processes."""

from __future__ import annotations

from typing import Any


def percentiles(values: Any, scale: float = 1.0) -> dict[str, float | None]:
    if not len(values):
        return {"p50": None, "p90": None, "p99": None, "p999": None, "max": None, "mean": None, "n": 0}
    ordered = sorted(values)
    n = len(ordered)

    def q(p: float) -> float:
        return round(ordered[min(n - 1, int(p * n))] * scale, 3)

    return {"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "p999": q(0.999), "max": round(ordered[-1] * scale, 3),
            "mean": round(sum(ordered) / n * scale, 3), "n": n}


def merge_counts(dicts: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out
