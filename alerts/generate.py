"""The chain: spec -> checks -> recording rules -> alerts -> rule file and runbook.

`GenerateError` is a spec that would produce rules that silently never fire
(an objective between histogram buckets) or an objective the configuration
cannot meet; the CLI turns it into exit code 2.
"""

from __future__ import annotations

from diagops.alerts.burnrate import burn_group
from diagops.alerts.model import Group
from diagops.alerts.operational import operational_group
from diagops.alerts.recording import budget_group, sli_group
from diagops.alerts.render import Format, render
from diagops.alerts.runbook import render_runbook as _runbook
from diagops.spec import Spec
from diagops.spec.histograms import DURATION_BUCKETS, LATENCY_BUCKETS


class GenerateError(Exception):
    """The spec cannot be turned into rules that work; the message names the key."""


def check_spec(spec: Spec) -> None:
    """Refuse specs whose rules would never fire or whose objectives the limits rule out."""
    for key, value, bounds, metric in (
        ("slo.delivery_latency.threshold_s", spec.slo.delivery_latency.threshold_s, LATENCY_BUCKETS, "diagops_push_latency_seconds"),
        ("slo.diagnosis_duration.threshold_s", spec.slo.diagnosis_duration.threshold_s, DURATION_BUCKETS, "diagops_diagnosis_duration_seconds"),
    ):
        if value not in bounds:
            raise GenerateError(
                f"'{key}' = {value:g} is not a bucket bound of {metric} "
                f"({', '.join(f'{b:g}' for b in bounds)}): the rules could not count events under it"
            )
    cap, limit = spec.slo.capacity, spec.limits.max_connections
    if cap.required_connections > limit:
        raise GenerateError(
            f"'slo.capacity.required_connections' = {cap.required_connections} exceeds "
            f"'limits.max_connections' = {limit}: the objective cannot be met"
        )


def build_groups(spec: Spec) -> list[Group]:
    check_spec(spec)
    return [sli_group(spec), budget_group(spec), burn_group(spec), operational_group(spec)]


def render_rules(spec: Spec, fmt: Format = "prometheus") -> str:
    return render(build_groups(spec), spec.slo.alerting.runbook_url, fmt)


def render_runbook(spec: Spec) -> str:
    return _runbook(spec, build_groups(spec))
