"""Service-level objectives: the thresholds every generator and check reads.

Defaults come from the Phase-3 plan. Alert rules, dashboards, `diagops status`,
the load-test verdict and the acceptance checks read these values and no others.
"""

from __future__ import annotations

from pydantic import Field

from spec.model_base import Section


class LatencyObjective(Section):
    """`target` of progress pushes must be delivered within `threshold_s`."""

    threshold_s: float = Field(1.0, gt=0)
    target: float = Field(0.95, gt=0, lt=1)


class ErrorRateObjective(Section):
    """At most `max_ratio` of diagnoses may end in `error` (availability = 1 - max_ratio)."""

    max_ratio: float = Field(0.005, gt=0, lt=1)


class CacheObjective(Section):
    min_hit_ratio: float = Field(0.80, ge=0, le=1)


class CapacityObjective(Section):
    """`required` concurrent sockets must be served; warn at `warn_ratio` of the configured maximum."""

    required_connections: int = Field(100, ge=1)
    warn_ratio: float = Field(0.8, gt=0, le=1)


class CoverageObjective(Section):
    min_ratio: float = Field(0.85, ge=0, le=1)


class SloSpec(Section):
    window_days: int = Field(30, ge=1)
    delivery_latency: LatencyObjective = LatencyObjective()
    error_rate: ErrorRateObjective = ErrorRateObjective()
    cache_hit: CacheObjective = CacheObjective()
    capacity: CapacityObjective = CapacityObjective()
    coverage: CoverageObjective = CoverageObjective()
