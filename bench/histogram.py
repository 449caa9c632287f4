"""Latency distributions as HDR histograms: percentiles in fixed memory, microsecond resolution."""

from __future__ import annotations

from typing import Any

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # an hour: nothing a benchmark waits for is longer
DIGITS = 3  # 0.1 % relative precision


class LatencyHistogram:
    """Seconds in, milliseconds out; `summary()` is what the JSON and the table show."""

    def __init__(self) -> None:
        from hdrh.histogram import HdrHistogram

        self._h = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)

    def record(self, seconds: float) -> None:
        self._h.record_value(min(max(int(seconds * 1e6), LOWEST_US), HIGHEST_US))

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def percentile_ms(self, percentile: float) -> float | None:
        return self._h.get_value_at_percentile(percentile) / 1000.0 if self.count else None

    def share_within(self, seconds: float) -> float | None:
        """The share of recorded values at or below `seconds` (None when empty)."""
        if not self.count:
            return None
        limit = int(seconds * 1e6)
        within = sum(item.count_at_value_iterated_to for item in self._h.get_recorded_iterator()
                     if item.value_iterated_to <= limit)
        return within / self.count

    def summary(self) -> dict[str, Any]:
        return {"count": self.count, "p50_ms": self.percentile_ms(50), "p95_ms": self.percentile_ms(95),
                "p99_ms": self.percentile_ms(99), "max_ms": self._h.get_max_value() / 1000.0 if self.count else None}
