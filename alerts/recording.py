"""Step 1: recording rules for the indicators over every window the alerts and dashboards read.

Ratios over each burn-rate window come straight from the raw counters (exact,
as Sloth does). The SLO-window ratio is built from recorded *rates* at the
shortest window, not from recorded ratios: a ratio is NaN whenever traffic
stops, and one NaN would poison a 30-day `sum_over_time` for 30 days.
"""

from __future__ import annotations

from diagops.alerts.model import Group, Recording
from diagops.alerts.slis import CACHE_KEY, PREFIX, Sli, budget_slis, burn_windows, cache_hit_ratio, ratio_record
from diagops.spec import Spec


def sli_group(spec: Spec) -> Group:
    """Bad ratios over each burn-rate window, plus the cache hit ratio over its alert window."""
    rules: list[Recording] = []
    windows = burn_windows(spec)
    for sli in budget_slis(spec):
        rules.extend(Recording(sli.record(w), sli.bad_ratio(w), {"slo": sli.key}) for w in windows)
        base = windows[0]
        rules.append(Recording(sli.rate_record("bad", base), sli.bad_rate(base), {"slo": sli.key}))
        rules.append(Recording(sli.rate_record("total", base), sli.total_rate(base), {"slo": sli.key}))
    cache_window = spec.slo.alerting.cache_window
    rules.append(Recording(ratio_record(CACHE_KEY, cache_window), cache_hit_ratio(cache_window)))
    return Group(f"{PREFIX}-sli-recordings", tuple(rules))


def budget_group(spec: Spec) -> Group:
    """Bad ratio over the whole SLO window and the share of the error budget still unspent."""
    days = spec.slo.window_days
    span = f"{days}d"
    base = burn_windows(spec)[0]
    rules: list[Recording] = []
    for sli in budget_slis(spec):
        rules.append(
            Recording(
                sli.record(span),
                f"sum_over_time({sli.rate_record('bad', base)}[{span}])\n/\n"
                f"sum_over_time({sli.rate_record('total', base)}[{span}])",
                {"slo": sli.key},
            )
        )
        rules.append(
            Recording(sli.budget_record(days), f"1 - ({sli.record(span)} / {sli.budget:g})", {"slo": sli.key})
        )
    return Group(f"{PREFIX}-slo-budget", tuple(rules))


def all_budget_records(spec: Spec) -> list[tuple[Sli, str]]:
    """(indicator, budget-remaining record) pairs, for the dashboard and `status`."""
    return [(sli, sli.budget_record(spec.slo.window_days)) for sli in budget_slis(spec)]
