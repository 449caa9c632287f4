"""Monitoring acceptance: the rules SREs apply are valid, and the target exposes what they query."""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from diagops.checks.context import GateContext
from diagops.checks.metrics_text import parse_exposition
from diagops.checks.model import Outcome, failed, passed, skipped
from diagops.checks.registry import check

METRIC_NAME = re.compile(r"\bdiagops_[a-z0-9_]+")
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def _rules_text(ctx: GateContext) -> tuple[str, str]:
    """(rule file text, where it came from): a given file, else the rules generated from the spec."""
    if ctx.inputs.rules is not None:
        return ctx.inputs.rules.read_text(encoding="utf-8"), str(ctx.inputs.rules)
    from diagops.alerts.generate import render_rules

    return render_rules(ctx.spec), "generated from the spec"


@check(id="monitoring.rules", title_en="Alert rules pass promtool", title_zh="告警规则通过 promtool 校验",
       category="monitoring", required=True)
async def rules_valid(ctx: GateContext) -> Outcome:
    from diagops.alerts.promtool import PromtoolMissing, find_promtool, run_check, run_unit_tests, unit_test_files

    try:
        promtool = find_promtool()
    except PromtoolMissing as exc:
        return skipped(str(exc))
    text, source = _rules_text(ctx)
    with tempfile.TemporaryDirectory(prefix="diagops-verify-") as tmp:
        rules = Path(tmp) / "diagops.rules.yml"
        rules.write_text(text, encoding="utf-8")
        checked = await asyncio.to_thread(run_check, promtool, rules)
        evidence: dict[str, Any] = {"rules": source, "check": checked.output[-2000:],
                                    "command": f"promtool check rules {source}"}
        if not checked.ok:
            return failed(f"promtool check rules failed: {_last_line(checked.output)}", **evidence)
        tests = unit_test_files()
        tested = await asyncio.to_thread(run_unit_tests, promtool, rules, tests)
        evidence["unit_tests"] = [t.name for t in tests]
        evidence["test"] = tested.output[-2000:]
        if not tested.ok:
            return failed(f"promtool test rules failed: {_last_line(tested.output)}", **evidence)
    groups = yaml.safe_load(text).get("groups", [])
    count = sum(len(g.get("rules", [])) for g in groups)
    return passed(f"{count} rules in {len(groups)} groups parse; {len(tests)} promtool unit test files pass", **evidence)


def _last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def queried_metrics(ctx: GateContext, rules_text: str) -> set[str]:
    """Every diagops_* series name the rules and the dashboard query."""
    from diagops.dashboards.build import build, queries

    exprs = [str(rule.get("expr", "")) for group in (yaml.safe_load(rules_text) or {}).get("groups", [])
             for rule in group.get("rules", [])]
    exprs += [expr for _, expr in queries(build(ctx.spec))]
    return {name for expr in exprs for name in METRIC_NAME.findall(expr)}


def expected_family(series: str) -> tuple[str, str]:
    """(family name, type) a queried series belongs to, as the exposition parser names families."""
    for suffix in HISTOGRAM_SUFFIXES:
        if series.endswith(suffix):
            return series[: -len(suffix)], "histogram"
    if series.endswith("_total"):
        return series[: -len("_total")], "counter"
    return series, "gauge"


@check(id="monitoring.metrics", title_en="The target exposes every metric the rules and dashboard query",
       title_zh="指标齐全且类型正确", category="monitoring", required=True)
async def metrics_exposed(ctx: GateContext) -> Outcome:
    text, source = _rules_text(ctx)
    try:
        wanted = queried_metrics(ctx, text)
    except yaml.YAMLError as exc:
        return failed(f"the rule file ({source}) is not YAML: {exc}")
    answer = await ctx.http("GET", "/metrics")
    if answer.status != 200 or not isinstance(answer.body, str):
        return failed(f"GET /metrics answered {answer.status}")
    try:
        exposed = parse_exposition(answer.body)
    except ValueError as exc:
        return failed(f"/metrics is not the Prometheus text format: {exc}")
    missing, mistyped = [], []
    for series in sorted(wanted):
        family, kind = expected_family(series)
        if family not in exposed.types:
            missing.append(series)
        elif exposed.types[family] != kind:
            mistyped.append(f"{series} ({exposed.types[family]}, queried as a {kind})")
    evidence = {"queried": sorted(wanted), "missing": missing, "mistyped": mistyped}
    if not wanted:
        return failed("the rules and dashboard query no diagops metric: nothing to check", **evidence)
    if missing or mistyped:
        return failed(f"{len(missing)} missing, {len(mistyped)} of the wrong type: "
                      + ", ".join((missing + mistyped)[:5]), **evidence)
    return passed(f"all {len(wanted)} queried series exposed with the right type", **evidence)


@check(id="monitoring.alerts_quiet", title_en="No alert fires on the healthy target", title_zh="健康目标无告警",
       category="monitoring", required=False, needs="prometheus_url")
async def alerts_quiet(ctx: GateContext) -> Outcome:
    base = str(ctx.inputs.prometheus_url).rstrip("/")
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=10)
    async with ctx.session.get(f"{base}/api/v1/rules", params={"type": "alert"}, timeout=timeout) as resp:
        rules = await resp.json(content_type=None)
    names = sorted({r.get("name") for g in rules.get("data", {}).get("groups", []) for r in g.get("rules", [])
                    if str(r.get("name", "")).startswith("Diagops")})
    if not names:
        return failed(f"Prometheus at {base} has no diagops alert rules loaded: nothing watches the target")
    async with ctx.session.get(f"{base}/api/v1/alerts", timeout=timeout) as resp:
        alerts = await resp.json(content_type=None)
    firing = sorted({a.get("labels", {}).get("alertname") for a in alerts.get("data", {}).get("alerts", [])
                     if a.get("state") == "firing" and str(a.get("labels", {}).get("alertname", "")).startswith("Diagops")})
    evidence = {"prometheus": base, "alert_rules": len(names), "firing": firing}
    if firing:
        return failed(f"firing: {', '.join(firing)}", **evidence)
    return passed(f"{len(names)} diagops alert rules loaded, none firing", **evidence)
