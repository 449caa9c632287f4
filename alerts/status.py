"""Each indicator now against its objective, and the diagops alerts pending or firing, from Prometheus.

`Query` is any function from PromQL to an instant vector (a list of
`{"metric": {...}, "value": [ts, "v"]}`), so the logic does not care whether
prometheus-api-client or something else talks HTTP. The indicators use the
same PromQL as the rules (`alerts.slis`); the error-budget figures read the
generated recording rules and show as missing when those are not loaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from diagops.alerts.slis import PREFIX, Sli, budget_slis, cache_hit_ratio, pct
from diagops.spec import Spec

Query = Callable[[str], list[dict[str, Any]]]
State = Literal["ok", "violated", "no traffic", "no data"]


@dataclass(frozen=True)
class Indicator:
    name: str
    objective: str
    value: float | None
    shown: str
    state: State
    detail: str = ""


@dataclass(frozen=True)
class ActiveAlert:
    name: str
    state: str  # pending | firing
    severity: str
    labels: dict[str, str]


@dataclass(frozen=True)
class Report:
    window: str
    indicators: list[Indicator]
    alerts: list[ActiveAlert] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing violated, nothing missing, nothing firing (pending is allowed: it may clear)."""
        return all(i.state in ("ok", "no traffic") for i in self.indicators) and not any(
            a.state == "firing" for a in self.alerts
        )

    @property
    def missing(self) -> list[Indicator]:
        return [i for i in self.indicators if i.state == "no data"]

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "window": self.window, "indicators": [asdict(i) for i in self.indicators],
                "alerts": [asdict(a) for a in self.alerts]}


def scalar(query: Query, expr: str) -> float | None:
    """The single value of `expr`, None when Prometheus returns no series."""
    result = query(expr)
    if not result:
        return None
    return float(result[0]["value"][1])


def _missing(query: Query, metrics: tuple[str, ...]) -> str:
    absent = [m for m in metrics if not query(f"count({m})")]
    if absent:
        return f"metric {', '.join(absent)} not in Prometheus: is the service scraped?"
    return "no series for this query"


def _ratio(query: Query, name: str, objective: str, expr: str, metrics: tuple[str, ...],
           good: Callable[[float], bool], detail: str = "") -> Indicator:
    value = scalar(query, expr)
    if value is None:
        return Indicator(name, objective, None, "—", "no data", _missing(query, metrics))
    if math.isnan(value):
        return Indicator(name, objective, None, "—", "no traffic", "no events in the window")
    return Indicator(name, objective, value, pct(round(value, 6)), "ok" if good(value) else "violated", detail)


def _budget_detail(query: Query, sli: Sli, days: int) -> str:
    left = scalar(query, sli.budget_record(days))
    if left is None:
        return "budget: recording rules not loaded"
    if math.isnan(left):
        return "budget: no events yet"
    return f"{days}-day budget left {pct(round(left, 4))}"


def budget_indicators(query: Query, spec: Spec, window: str) -> list[Indicator]:
    """Errors as a bad ratio (what people quote); latency and duration as the good share (the objective's words)."""
    days = spec.slo.window_days
    names = {
        "push_latency_slow": f"Pushes within {spec.slo.delivery_latency.threshold_s:g} s",
        "diagnosis_duration_slow": f"Diagnoses within {spec.slo.diagnosis_duration.threshold_s:g} s",
    }
    out = []
    for sli in budget_slis(spec):
        detail = _budget_detail(query, sli, days)
        if sli.key == "diagnosis_errors":
            out.append(_ratio(query, "Diagnosis errors", f"<= {pct(sli.budget)}", sli.bad_ratio(window), sli.metrics,
                              lambda v, b=sli.budget: v <= b, detail))
        else:
            out.append(_ratio(query, names.get(sli.key, sli.title), f">= {pct(sli.target)}",
                              f"1 - ({sli.bad_ratio(window)})", sli.metrics, lambda v, t=sli.target: v >= t, detail))
    return out


def cache_indicator(query: Query, spec: Spec, window: str) -> Indicator:
    target = spec.slo.cache_hit.min_hit_ratio
    return _ratio(query, "Cache hit ratio", f">= {pct(target)}", cache_hit_ratio(window),
                  (f"{PREFIX}_cache_requests_total",), lambda v: v >= target)


def capacity_indicator(query: Query, spec: Spec) -> Indicator:
    limit, warn = spec.limits.max_connections, spec.slo.capacity.warn_ratio
    metric = f"{PREFIX}_ws_connections"
    value = scalar(query, f"max({metric})")
    objective = f"< {pct(warn)} of {limit}"
    if value is None:
        return Indicator("Connections (busiest instance)", objective, None, "—", "no data", _missing(query, (metric,)))
    state: State = "ok" if value < limit * warn else "violated"
    return Indicator("Connections (busiest instance)", objective, value, f"{value:g} ({pct(round(value / limit, 4))})", state)


def up_indicator(query: Query, spec: Spec) -> Indicator:
    job = spec.slo.alerting.job
    result = query(f'up{{job="{job}"}}')
    if not result:
        return Indicator("Targets up", "all", None, "—", "no data", f"no target with job=\"{job}\" in Prometheus")
    up = sum(1 for r in result if float(r["value"][1]) == 1)
    return Indicator("Targets up", "all", float(up), f"{up} of {len(result)}", "ok" if up == len(result) else "violated")


def active_alerts(query: Query) -> list[ActiveAlert]:
    found = []
    for r in query('ALERTS{alertname=~"Diagops.*"}'):
        labels = dict(r["metric"])
        name, state = labels.pop("alertname", "?"), labels.pop("alertstate", "?")
        labels.pop("__name__", None)
        found.append(ActiveAlert(name, state, labels.pop("severity", ""), labels))
    return sorted(found, key=lambda a: (a.state != "firing", a.name))


def evaluate(query: Query, spec: Spec, window: str) -> Report:
    indicators = [
        *budget_indicators(query, spec, window),
        cache_indicator(query, spec, window),
        capacity_indicator(query, spec),
        up_indicator(query, spec),
    ]
    return Report(window, indicators, active_alerts(query))
