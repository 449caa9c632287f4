"""What the dashboard shows, as plain data: rows of panels with their PromQL and objective lines.

Kept apart from the Grafana SDK so a test (and a reader) can see every query
without building JSON. Ratios come from `alerts.slis`, budget and burn panels
read the recording rules that `alerts` generates, so the dashboard shows what
the alerts fire on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from diagops.alerts.slis import PREFIX, budget_slis, cache_hit_ratio
from diagops.spec import Spec
from diagops.spec.durations import duration_seconds

RATE = "$__rate_interval"  # Grafana's safe rate window: at least four scrape intervals


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: Literal["timeseries", "stat"] = "timeseries"
    # (value, color) steps above the base colour; a timeseries panel with steps draws them as dashed lines.
    thresholds: tuple[tuple[float, str], ...] = ()
    base_color: str = "green"
    width: int = 8
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def _rate(metric: str, by: str = "") -> str:
    group = f" by ({by}) " if by else ""
    return f"sum{group}(rate({metric}[{RATE}]))"


def _quantiles(histogram: str, qs: tuple[float, ...], by: str = "le") -> tuple[Query, ...]:
    extra = by.replace("le", "").strip(", ")
    legend = ("{{" + extra + "}} " if extra else "") + "p{q}"
    return tuple(
        Query(f"histogram_quantile({q:g}, sum by ({by}) (rate({histogram}_bucket[{RATE}])))", legend.format(q=round(q * 100)))
        for q in qs
    )


def traffic(spec: Spec) -> Row:
    limit, warn = spec.limits.max_connections, spec.slo.capacity.warn_ratio
    return Row("Traffic", (
        Panel("Open connections", "WebSocket connections per instance.",
              (Query(f"sum by (instance) ({PREFIX}_ws_connections)", "{{instance}}"),)),
        Panel("Capacity used", f"Busiest instance's connections over limits.max_connections ({limit}); "
              f"DiagopsConnectionsNearCapacity fires at {warn:.0%}.",
              (Query(f"max({PREFIX}_ws_connections) / {limit}", "capacity used"),),
              unit="percentunit", kind="stat", thresholds=((warn, "orange"), (1.0, "red")), minimum=0, maximum=1),
        Panel("Messages sent per second, by event", "diagnosis_update frames written, and new connections per second.",
              (Query(_rate(f"{PREFIX}_messages_sent_total", "event"), "{{event}}"),
               Query(_rate(f"{PREFIX}_ws_connections_opened_total"), "connections opened")),
              unit="ops"),
    ))


def latency(spec: Spec) -> Row:
    lat = spec.slo.delivery_latency
    push = budget_slis(spec)[1]
    return Row("Latency", (
        Panel("Push latency p50 / p95 / p99", f"From event accepted to frame written. Objective: {push.objective}.",
              _quantiles(f"{PREFIX}_push_latency_seconds", (0.5, 0.95, 0.99)),
              unit="s", thresholds=((lat.threshold_s, "red"),), width=12),
        Panel(f"Pushes within {lat.threshold_s:g} s", f"Share of pushes delivered within the objective's "
              f"{lat.threshold_s:g} s; the objective is {lat.target:.0%}.",
              (Query(f"1 - ({push.bad_ratio(RATE)})", f"within {lat.threshold_s:g} s"),),
              unit="percentunit", thresholds=((lat.target, "green"),), base_color="red", width=12, maximum=1),
    ))


def errors(spec: Spec) -> Row:
    slis = budget_slis(spec)
    err = slis[0]
    page = next(w for w in spec.slo.alerting.burn_rate_windows if w.severity == "page")
    factor = page.factor(spec.slo.window_days)
    days = spec.slo.window_days
    return Row("Errors and error budget", (
        Panel("Diagnosis error ratio", f"Share of diagnoses that ended in error. Objective: {err.objective}.",
              (Query(err.bad_ratio(RATE), "error ratio"),),
              unit="percentunit", thresholds=((spec.slo.error_rate.max_ratio, "red"),), width=6),
        Panel(f"Burn rate over {page.long_window}",
              f"Bad ratio over {page.long_window} divided by the budget: 1 spends the budget exactly in {days} days; "
              f"the page fires above {factor:g} (with the {page.short_window} window).",
              tuple(Query(f"{s.record(page.long_window)} / {s.budget:g}", s.key) for s in slis),
              unit="x", thresholds=((1.0, "orange"), (factor, "red")), width=6),
        Panel(f"Error budget left ({days} d)", "Share of each objective's error budget still unspent over the SLO window.",
              tuple(Query(s.budget_record(days), s.key) for s in slis),
              unit="percentunit", kind="stat", thresholds=((0.0, "orange"), (0.25, "green")), base_color="red", width=6),
        Panel("Errors by type", "Diagnosis error events per second, by error_type.",
              (Query(_rate(f"{PREFIX}_errors_total", "error_type"), "{{error_type}}"),), unit="ops", width=6),
    ))


def cache(spec: Spec) -> Row:
    target = spec.slo.cache_hit.min_hit_ratio
    return Row("Cache", (
        Panel("Cache hit ratio", f"Share of diagnosis requests served from the result cache; objective {target:.0%}.",
              (Query(cache_hit_ratio(RATE), "hit ratio"),),
              unit="percentunit", thresholds=((target, "green"),), base_color="red", width=12, maximum=1),
        Panel("Cache lookups per second", "Result-cache lookups by result.",
              (Query(_rate(f"{PREFIX}_cache_requests_total", "result"), "{{result}}"),), unit="ops", width=12),
    ))


def diagnoses(spec: Spec) -> Row:
    dur = spec.slo.diagnosis_duration
    return Row("Diagnoses", (
        Panel("Diagnoses per second, by outcome",
              "Diagnoses that ended, by status (cache replays excluded: they count as cache hits).",
              (Query(_rate(f"{PREFIX}_diagnoses_total", "status"), "{{status}}"),), unit="ops"),
        Panel("Diagnosis duration p50 / p95", f"From accepted to final event. Objective: {dur.target:.0%} within "
              f"{dur.threshold_s:g} s.",
              _quantiles(f"{PREFIX}_diagnosis_duration_seconds", (0.5, 0.95)),
              unit="s", thresholds=((dur.threshold_s, "red"),)),
        Panel("Active and queued", "Diagnoses running on the engine, and waiting for a slot "
              f"(engine.max_concurrent_diagnoses = {spec.engine.max_concurrent_diagnoses}).",
              (Query(f"sum({PREFIX}_executions_active)", "active"), Query(f"sum({PREFIX}_diagnoses_queued)", "queued"))),
        Panel("Refused starts per second, by reason",
              f"Diagnosis starts refused with Retry-After: overloaded (503) and too_many_diagnoses (429). Objective: "
              f"under {spec.slo.reliability.max_refused_ratio:.0%} of starts.",
              (Query(_rate(f"{PREFIX}_diagnoses_refused_total", "reason"), "{{reason}}"),), unit="ops", width=12),
        Panel("Expected queue wait", "Wait for a slot of a diagnosis admitted now (queue / measured service rate); "
              f"above limits.max_queue_wait_s ({spec.limits.max_queue_wait_s}) new starts are refused.",
              (Query(f"max({PREFIX}_diagnosis_queue_wait_expected_seconds)", "expected wait"),), unit="s", width=12,
              thresholds=(((spec.limits.max_queue_wait_s or 0.0), "red"),) if spec.limits.max_queue_wait_s else ()),
    ))


def reliability(spec: Spec) -> Row:
    r = spec.slo.reliability
    store_errors = (
        f"{_rate(f'{PREFIX}_store_errors_total', 'op')}\nor\n"
        f"{_rate(f'{PREFIX}_store_operation_seconds_count', 'op')} * 0"
    )
    return Row("Reliability", (
        Panel("Disconnections per second, by reason", "Closed WebSocket connections, by reason.",
              (Query(_rate(f"{PREFIX}_ws_disconnections_total", "reason"), "{{reason}}"),), unit="ops", width=6),
        Panel("Heartbeat timeouts and slow consumers per minute",
              f"Objectives: at most {r.max_heartbeat_timeouts_per_min:g} heartbeat timeouts and "
              f"{r.max_slow_consumers_per_min:g} slow consumers per minute.",
              (Query(f"{_rate(f'{PREFIX}_heartbeat_timeouts_total')} * 60", "heartbeat timeouts"),
               Query(f"{_rate(f'{PREFIX}_slow_consumer_disconnects_total')} * 60", "slow consumers")), width=6),
        Panel("Store latency p95, by operation", "Store call latency (Redis or memory).",
              _quantiles(f"{PREFIX}_store_operation_seconds", (0.95,), by="le, op"), unit="s", width=6),
        Panel("Store errors per second, by operation", f"Failed store calls (0 for operations without errors); "
              f"the objective is under {r.max_store_error_ratio:.0%} of calls.",
              (Query(store_errors, "{{op}}"),), unit="ops", width=6),
        Panel("Store budget used", f"Memory store bytes over store.max_bytes, per instance; "
              f"DiagopsStoreNearBudget fires above {r.max_store_budget_ratio:.0%}.",
              (Query(f"{PREFIX}_store_bytes / ({PREFIX}_store_max_bytes > 0)", "{{instance}}"),), unit="percentunit",
              thresholds=((r.max_store_budget_ratio, "orange"),), minimum=0.0, maximum=1.0, width=6),
        Panel("Store evictions and refusals per second", "Events evicted to stay within the budget, by reason "
              "(finished, idle), and new diagnoses refused 503 store_full.",
              (Query(_rate(f"{PREFIX}_store_evictions_total", "reason"), "{{reason}}"),
               Query(_rate(f"{PREFIX}_store_refusals_total"), "refused")), unit="ops", width=6),
        Panel("Authentication failures per second", "Refused tokens, by reason.",
              (Query(_rate(f"{PREFIX}_auth_failures_total", "reason"), "{{reason}}"),), unit="ops", width=12),
        Panel("Targets up", f"Scraped instances of job {spec.slo.alerting.job} that answer.",
              (Query(f'sum(up{{job="{spec.slo.alerting.job}"}})', "up"),), kind="stat",
              thresholds=((1.0, "green"),), base_color="red", width=12),
    ))


def rows(spec: Spec) -> list[Row]:
    """Every row, top to bottom."""
    return [traffic(spec), latency(spec), errors(spec), cache(spec), diagnoses(spec), reliability(spec)]


def refresh_interval(spec: Spec) -> str:
    """Refresh no faster than the shortest burn window can change meaningfully."""
    shortest = min(duration_seconds(w.short_window) for w in spec.slo.alerting.burn_rate_windows)
    return "30s" if shortest >= 60 else "5s"
