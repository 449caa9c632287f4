"""Step 2: multi-window, multi-burn-rate alerts (Google SRE Workbook, "Alerting on SLOs", the sixth approach).

One alert per indicator and severity: `page` windows OR-ed into <stem>FastBurn
(critical), `ticket` windows into <stem>SlowBurn (warning). Each condition needs
both its long window (enough budget really spent) and its short window (still
burning now, so the alert resets soon after recovery). Thresholds are the burn
rate times the budget, `1 - target` from the spec, written out as a product so
a reader sees where they come from.
"""

from __future__ import annotations

from diagops.alerts.model import Alert, Group, Runbook
from diagops.alerts.slis import PREFIX, Sli, budget_slis, pct
from diagops.spec import Spec
from diagops.spec.slo import BurnRateWindow

SEVERITY = {"page": "critical", "ticket": "warning"}
SUFFIX = {"page": "FastBurn", "ticket": "SlowBurn"}


def _factor_text(factor: float) -> str:
    return f"{factor:g}x"


def _condition(sli: Sli, window: BurnRateWindow, days: int) -> str:
    threshold = f"({window.factor(days):g} * {sli.budget:g})"
    return (
        f"(\n  {sli.record(window.long_window)} > {threshold}\nand\n"
        f"  {sli.record(window.short_window)} > {threshold}\n)"
    )


def _windows_text(windows: list[BurnRateWindow], days: int) -> str:
    return " or ".join(
        f"{_factor_text(w.factor(days))} over {w.long_window} and {w.short_window}" for w in windows
    )


def burn_alert(spec: Spec, sli: Sli, severity: str, windows: list[BurnRateWindow]) -> Alert:
    days = spec.slo.window_days
    fast = severity == "page"
    how = _windows_text(windows, days)
    return Alert(
        name=f"{sli.alert_stem}{SUFFIX[severity]}",
        expr="\nor\n".join(_condition(sli, w, days) for w in windows),
        severity=SEVERITY[severity],
        for_=spec.slo.alerting.burn_rate_for,
        labels={"slo": sli.key},
        summary=(
            f"{sli.title} is {{{{ $value | humanizePercentage }}}}: the error budget burns "
            f"{'fast' if fast else 'steadily'} (objective: {sli.short})."
        ),
        description=(
            f"{{{{ $value | humanizePercentage }}}} of {sli.bad_events} over the alert's long window. "
            f"The objective ({sli.objective}) allows {pct(sli.budget)}; this alert fires when the budget burns "
            f"faster than {how}. "
            + (
                f"At this rate {pct(windows[0].budget_consumed or 0)} or more of the {days}-day budget is gone within "
                f"{windows[0].long_window}."
                if windows[0].budget_consumed
                else ""
            )
        ).strip(),
        runbook=_runbook(sli, fast, how),
    )


# What to look at and do first, per indicator: the budget alerts share everything else.
_HINTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "diagnosis_errors": (
        (
            "`sum by (error_type) (rate(diagops_errors_total[5m]))` names the cause "
            "(AI_PLATFORM_ERROR, TIMEOUT, RATE_LIMITED, INVALID_REQUEST, INTERNAL).",
            "The engine's logs name the failing AI platform.",
        ),
        (
            "An upstream AI platform failing: take it out of engine.platforms until it recovers.",
            "RATE_LIMITED: lower engine.max_concurrent_ai_calls.",
        ),
    ),
    "push_latency_slow": (
        (
            "CPU of each instance: delivery slows when one process saturates its core.",
            "Dashboard row Reliability: store latency by op and slow-consumer disconnects.",
        ),
        ("Add instances or workers; move a competing load test elsewhere.",),
    ),
    "diagnosis_duration_slow": (
        (
            "`diagops_diagnoses_queued` above 0 for long: engine.max_concurrent_diagnoses is the bottleneck.",
            "The engine's logs: one slow AI platform holds up every diagnosis that asks it.",
        ),
        ("Raise engine.max_concurrent_diagnoses if the AI platforms allow; drop a slow platform.",),
    ),
}


def _runbook(sli: Sli, fast: bool, how: str) -> Runbook:
    look, act = _HINTS.get(sli.key, ((), ()))
    return Runbook(
        meaning=f"The share of {sli.bad_events} is high enough to spend the error budget faster than {how}. "
        f"Objective: {sli.objective}.",
        impact=(
            "Users are affected now; at this rate the budget is gone within days."
            if fast
            else "A slow leak: users see it now and then, and the budget will not last the window."
        ),
        diagnose=(
            "`diagops status` shows each indicator against its objective and the alerts firing.",
            f"Dashboard *diagops*: when did `{PREFIX}:{sli.key}:ratio_rate*` start to rise, and what changed then?",
            *look,
        ),
        mitigate=("Roll back a recent deploy or config change first if the rise lines up with one.", *act),
    )


def burn_group(spec: Spec) -> Group:
    """FastBurn and SlowBurn alerts for every indicator with an error budget."""
    rules: list[Alert] = []
    for sli in budget_slis(spec):
        for severity in ("page", "ticket"):
            windows = [w for w in spec.slo.alerting.burn_rate_windows if w.severity == severity]
            if windows:
                rules.append(burn_alert(spec, sli, severity, windows))
    return Group(f"{PREFIX}-slo-alerts", tuple(rules))
