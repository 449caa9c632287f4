"""A small mergeable latency histogram with ~1 % relative precision.

Locust rounds response times to whole milliseconds (two significant digits
above 100 ms), which hides the sub-millisecond figures the benchmark needs, and
its percentiles cannot be merged across generator processes we control. This
one keeps log-spaced buckets as a plain dict, so it travels as JSON between a
Locust worker, the master and the CLI, and merges by adding counts.
"""

from __future__ import annotations

import math
from typing import Any

# Bucket i holds values in [BASE**i, BASE**(i+1)) microseconds; 1.02 keeps the
# reported value within 1 % of the truth while a 0..60 s range needs ~900 buckets.
BASE = 1.02
_LOG_BASE = math.log(BASE)


def _bucket(seconds: float) -> int:
    micros = seconds * 1e6
    if micros < 1.0:
        return -1  # everything under a microsecond, including clock noise below zero
    return int(math.log(micros) / _LOG_BASE)


def _bucket_value(index: int) -> float:
    """The geometric middle of a bucket, in seconds."""
    if index < 0:
        return 0.0
    return BASE ** (index + 0.5) / 1e6


class Histogram:
    """Counts of latencies in seconds; exact count, sum, min and max, bucketed percentiles."""

    __slots__ = ("buckets", "count", "total", "minimum", "maximum")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = 0.0

    def record(self, seconds: float) -> None:
        """Add one observation; negative values (clock skew) count as zero."""
        value = seconds if seconds > 0.0 else 0.0
        index = _bucket(value)
        self.buckets[index] = self.buckets.get(index, 0) + 1
        self.count += 1
        self.total += value
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value

    def merge(self, other: Histogram) -> None:
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    def percentile(self, fraction: float) -> float | None:
        """The value below which `fraction` (0..1) of observations fall; None when empty.

        Clamped to the exact min and max; the top rank is the exact maximum.
        """
        if self.count == 0:
            return None
        rank = max(1, math.ceil(fraction * self.count))
        if rank >= self.count:
            return self.maximum
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(max(_bucket_value(index), self.minimum), self.maximum)
        return self.maximum

    def summary(self) -> dict[str, Any]:
        """The figures the results JSON carries for one kind, in seconds."""
        if self.count == 0:
            return {"count": 0, "mean": None, "min": None, "p50": None, "p95": None, "p99": None, "max": None}
        return {
            "count": self.count,
            "mean": self.total / self.count,
            "min": self.minimum,
            "p50": self.percentile(0.50),
            "p95": self.percentile(0.95),
            "p99": self.percentile(0.99),
            "max": self.maximum,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "buckets": {str(k): v for k, v in self.buckets.items()},
            "count": self.count,
            "total": self.total,
            "min": None if self.count == 0 else self.minimum,
            "max": self.maximum,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        hist = cls()
        hist.buckets = {int(k): int(v) for k, v in data.get("buckets", {}).items()}
        hist.count = int(data.get("count", 0))
        hist.total = float(data.get("total", 0.0))
        hist.minimum = math.inf if data.get("min") is None else float(data["min"])
        hist.maximum = float(data.get("max", 0.0))
        return hist
