"""The service-level indicators: their PromQL, recording-rule names and objectives.

One place spells each indicator, so the recording rules, the burn-rate alerts,
the dashboards and `diagops status` cannot disagree about what "bad" means.
Every ratio indicator is a *bad* ratio (errors, slow pushes, slow diagnoses):
the error budget is `1 - target`, and burn rate = bad ratio / budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from diagops.spec import Spec
from diagops.spec.durations import duration_seconds

PREFIX = "diagops"
_WINDOW = "WINDOW"  # placeholder in templates; PromQL braces rule out str.format


def pct(ratio: float) -> str:
    """0.005 -> '0.5 %': how objectives read in alert texts and the runbook."""
    return f"{ratio * 100:.6g} %"


def secs(value: float) -> str:
    return f"{value:g} s"


def le_label(bound: float) -> str:
    """A histogram bound as the client library writes its `le` label (1 -> "1.0"); Prometheus 2 matches it verbatim."""
    from prometheus_client.utils import floatToGoString

    return floatToGoString(bound)


@dataclass(frozen=True)
class Sli:
    """A bad-ratio indicator with an objective over the SLO window."""

    key: str  # the metric part of recording-rule names: diagops:<key>:ratio_rate5m
    alert_stem: str  # alerts are <stem>FastBurn / <stem>SlowBurn
    title: str
    bad_events: str  # "diagnoses that ended in error", for texts
    objective: str  # one sentence naming the target and window
    short: str  # the objective in a few words, for summaries and tables
    target: float  # share of good events
    metrics: tuple[str, ...]  # raw metric names the indicator reads
    bad_template: str  # PromQL of bad events per second, WINDOW for the range
    total_template: str  # PromQL of all events per second

    @property
    def budget(self) -> float:
        return round(1 - self.target, 12)

    def bad_rate(self, window: str) -> str:
        return self.bad_template.replace(_WINDOW, window)

    def total_rate(self, window: str) -> str:
        return self.total_template.replace(_WINDOW, window)

    def bad_ratio(self, window: str) -> str:
        """The bad ratio over `window` from raw metrics (a Prometheus duration or a Grafana macro)."""
        return f"({self.bad_rate(window)})\n/\n({self.total_rate(window)})"

    def record(self, window: str) -> str:
        return ratio_record(self.key, window)

    def rate_record(self, kind: str, window: str) -> str:
        """`kind` is bad or total: per-second event rates, summed over the SLO window without NaN gaps."""
        return f"{PREFIX}:{self.key}:{kind}_rate{window}"

    def budget_record(self, window_days: int) -> str:
        return f"{PREFIX}:{self.key}:error_budget_remaining{window_days}d"


def ratio_record(key: str, window: str) -> str:
    """Recording-rule name by Prometheus convention, level:metric:operations."""
    return f"{PREFIX}:{key}:ratio_rate{window}"


def _total(metric: str) -> str:
    return f"sum(rate({metric}[{_WINDOW}]))"


def _slow(histogram: str, bound: float) -> str:
    """Observations above `bound`: all of them minus the cumulative bucket at `bound`."""
    bucket = histogram + '_bucket{le="' + le_label(bound) + '"}'
    return f"{_total(histogram + '_count')} - {_total(bucket)}"


def budget_slis(spec: Spec) -> tuple[Sli, ...]:
    """The indicators with an error budget, hence burn-rate alerts: errors, push latency, diagnosis duration."""
    slo = spec.slo
    days = f"{slo.window_days} days"
    lat, dur = slo.delivery_latency, slo.diagnosis_duration
    return (
        Sli(
            key="diagnosis_errors",
            alert_stem="DiagopsDiagnosisErrors",
            title="Diagnosis error ratio",
            bad_events="diagnoses that ended in error",
            objective=f"at most {pct(slo.error_rate.max_ratio)} of diagnoses end in error over {days}",
            short=f"at most {pct(slo.error_rate.max_ratio)} errors",
            target=round(1 - slo.error_rate.max_ratio, 12),
            metrics=(f"{PREFIX}_diagnoses_total",),
            bad_template=_total(PREFIX + '_diagnoses_total{status="error"}') + " or vector(0)",
            total_template=_total(f"{PREFIX}_diagnoses_total"),
        ),
        Sli(
            key="push_latency_slow",
            alert_stem="DiagopsPushLatency",
            title=f"Share of pushes slower than {secs(lat.threshold_s)}",
            bad_events=f"pushes delivered later than {secs(lat.threshold_s)}",
            objective=f"{pct(lat.target)} of pushes delivered within {secs(lat.threshold_s)} over {days}",
            short=f"{pct(lat.target)} within {secs(lat.threshold_s)}",
            target=lat.target,
            metrics=(f"{PREFIX}_push_latency_seconds_bucket", f"{PREFIX}_push_latency_seconds_count"),
            bad_template=_slow(f"{PREFIX}_push_latency_seconds", lat.threshold_s),
            total_template=_total(f"{PREFIX}_push_latency_seconds_count"),
        ),
        Sli(
            key="diagnosis_duration_slow",
            alert_stem="DiagopsDiagnosisDuration",
            title=f"Share of diagnoses slower than {secs(dur.threshold_s)}",
            bad_events=f"diagnoses that took longer than {secs(dur.threshold_s)}",
            objective=f"{pct(dur.target)} of diagnoses finish within {secs(dur.threshold_s)} over {days}",
            short=f"{pct(dur.target)} within {secs(dur.threshold_s)}",
            target=dur.target,
            metrics=(f"{PREFIX}_diagnosis_duration_seconds_bucket", f"{PREFIX}_diagnosis_duration_seconds_count"),
            bad_template=_slow(f"{PREFIX}_diagnosis_duration_seconds", dur.threshold_s),
            total_template=_total(f"{PREFIX}_diagnosis_duration_seconds_count"),
        ),
    )


CACHE_KEY = "cache_hits"
CACHE_TEMPLATE = (
    "(" + _total(PREFIX + '_cache_requests_total{result="hit"}') + " or vector(0))\n/\n"
    + _total(PREFIX + "_cache_requests_total")
)


def cache_hit_ratio(window: str) -> str:
    """Share of result-cache lookups served from the cache over `window`."""
    return CACHE_TEMPLATE.replace(_WINDOW, window)


def burn_windows(spec: Spec) -> list[str]:
    """Every window a burn-rate alert reads, shortest first, once each."""
    found = {w for b in spec.slo.alerting.burn_rate_windows for w in (b.long_window, b.short_window)}
    return sorted(found, key=duration_seconds)
