"""Service-level objectives: the thresholds every generator and check reads.

The defaults are the service's objectives (README.md lists the main ones). Alert rules,
dashboards, `diagops status` and the load-test verdict read these values and no others.
`alerting` holds how the objectives are watched (burn-rate windows, `for:`
durations); a test profile shortens those, never the objectives' meaning.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from diagops.spec.durations import PROMETHEUS_DURATION, duration_seconds
from diagops.spec.model_base import Section

# What rule windows and `for:` accept (a Prometheus duration with one unit: "5m", "1h", "3d").
Duration = Annotated[str, StringConstraints(pattern=PROMETHEUS_DURATION)]


class LatencyObjective(Section):
    """`target` of pushes (diagnosis_update frames, any event) must be written within `threshold_s`.

    `threshold_s` must be a bucket bound of `diagops_push_latency_seconds`
    (0.1, 0.25, 0.5, 1 ...): the rules count pushes under it from that bucket.
    """

    threshold_s: float = Field(1.0, gt=0)
    target: float = Field(0.95, gt=0, lt=1)


class ErrorRateObjective(Section):
    """At most `max_ratio` of diagnoses may end in `error` (availability = 1 - max_ratio)."""

    max_ratio: float = Field(0.005, gt=0, lt=1)


class DurationObjective(Section):
    """`target` of diagnoses must reach their final event within `threshold_s` of being accepted.

    Delivery latency starts when an event is accepted, so a slow engine never
    shows there; this objective is what notices it. `threshold_s` must be a
    bucket bound of `diagops_diagnosis_duration_seconds` (... 20, 30, 60 ...).
    """

    threshold_s: float = Field(60.0, gt=0)
    target: float = Field(0.95, gt=0, lt=1)


class CacheObjective(Section):
    min_hit_ratio: float = Field(0.80, ge=0, le=1)


class CapacityObjective(Section):
    """`required` concurrent sockets must be served; warn at `warn_ratio` of the configured maximum."""

    required_connections: int = Field(100, ge=1)
    warn_ratio: float = Field(0.8, gt=0, le=1)


class CoverageObjective(Section):
    min_ratio: float = Field(0.85, ge=0, le=1)


class ReliabilityObjective(Section):
    """Rates above which connection churn or store trouble is worth a human look."""

    max_heartbeat_timeouts_per_min: float = Field(10.0, gt=0)
    max_slow_consumers_per_min: float = Field(5.0, gt=0)
    max_store_error_ratio: float = Field(0.01, gt=0, le=1, description="failed store calls / all store calls")
    max_store_budget_ratio: float = Field(
        0.9, gt=0, le=1, description="memory store bytes / store.max_bytes above which eviction cuts retention short",
    )
    max_refused_ratio: float = Field(
        0.05, gt=0, le=1, description="diagnosis starts refused (overloaded, too_many_diagnoses) / all starts"
    )


class BurnRateWindow(Section):
    """One multi-window burn-rate condition (Google SRE Workbook, ch. 5).

    Fires when the bad ratio over both `long_window` and `short_window` exceeds
    `burn_rate` x the error budget. The burn rate is either given, or derived
    from `budget_consumed`: the share of the whole window's budget that this
    rate would spend within `long_window` (2 % in 1 h over 30 days = 14.4x).
    """

    severity: Literal["page", "ticket"]
    long_window: Duration
    short_window: Duration
    budget_consumed: float | None = Field(None, gt=0, le=1)
    burn_rate: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> BurnRateWindow:
        if (self.budget_consumed is None) == (self.burn_rate is None):
            raise ValueError("give exactly one of budget_consumed and burn_rate")
        if duration_seconds(self.short_window) >= duration_seconds(self.long_window):
            raise ValueError(f"short_window {self.short_window} must be shorter than long_window {self.long_window}")
        return self

    def factor(self, window_days: int) -> float:
        """The burn rate this condition alerts above, for an SLO window of `window_days`."""
        if self.burn_rate is not None:
            return self.burn_rate
        assert self.budget_consumed is not None
        return round(self.budget_consumed * window_days * 86400 / duration_seconds(self.long_window), 6)


def _workbook_windows() -> list[BurnRateWindow]:
    return [
        BurnRateWindow(severity="page", long_window="1h", short_window="5m", budget_consumed=0.02),
        BurnRateWindow(severity="page", long_window="6h", short_window="30m", budget_consumed=0.05),
        BurnRateWindow(severity="ticket", long_window="1d", short_window="2h", budget_consumed=0.10),
        BurnRateWindow(severity="ticket", long_window="3d", short_window="6h", budget_consumed=0.10),
    ]


class AlertingSpec(Section):
    """How the objectives are watched: windows, `for:` durations, the scrape job and runbook."""

    job: str = Field("diagops", min_length=1, description="the Prometheus job label of the service's targets")
    runbook_url: str = Field("alerts/RUNBOOK.md", description="where RUNBOOK.md is published; alerts link to its sections")
    burn_rate_windows: list[BurnRateWindow] = Field(default_factory=_workbook_windows, min_length=1)
    burn_rate_for: Duration = "0s"
    cache_window: Duration = "1h"
    cache_for: Duration = "15m"
    capacity_for: Duration = "5m"
    spike_window: Duration = "5m"
    spike_for: Duration = "5m"
    store_for: Duration = "5m"
    store_budget_for: Duration = "15m"
    down_for: Duration = "1m"
    absent_for: Duration = "5m"

    @model_validator(mode="after")
    def _severities(self) -> AlertingSpec:
        if "page" not in {w.severity for w in self.burn_rate_windows}:
            raise ValueError("burn_rate_windows needs at least one 'page' window")
        return self


class SloSpec(Section):
    window_days: int = Field(30, ge=1)
    delivery_latency: LatencyObjective = LatencyObjective()
    error_rate: ErrorRateObjective = ErrorRateObjective()
    diagnosis_duration: DurationObjective = DurationObjective()
    cache_hit: CacheObjective = CacheObjective()
    capacity: CapacityObjective = CapacityObjective()
    coverage: CoverageObjective = CoverageObjective()
    reliability: ReliabilityObjective = ReliabilityObjective()
    alerting: AlertingSpec = AlertingSpec()
