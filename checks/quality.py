"""Quality acceptance: coverage and test results from the build's own files, and code review."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from diagops.checks.context import GateContext
from diagops.checks.model import Outcome, failed, passed
from diagops.checks.registry import check


def _xml_root(path: Path, what: str) -> ET.Element | Outcome:
    """The parsed file, or the failure that says it is not the XML the check reads."""
    try:
        return ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        return failed(f"{path}: not {what} ({type(exc).__name__}: {exc})")


@check(id="quality.coverage", title_en="Line coverage", title_zh="测试覆盖率", category="quality",
       required=True, needs="coverage")
async def coverage(ctx: GateContext) -> Outcome:
    path = ctx.inputs.coverage
    assert path is not None
    root = _xml_root(path, "a Cobertura coverage.xml")
    if isinstance(root, Outcome):
        return root
    try:
        ratio = float(root.attrib["line-rate"])
    except (KeyError, ValueError) as exc:
        return failed(f"{path}: a coverage.xml without a numeric line-rate ({type(exc).__name__}: {exc})")
    objective = ctx.spec.slo.coverage.min_ratio
    lines = {k: root.attrib.get(k) for k in ("lines-valid", "lines-covered")}
    outcome = (passed if ratio >= objective else failed)(
        f"line coverage {ratio:.1%} (objective ≥ {objective:.0%})", file=str(path), line_rate=ratio, **lines)
    outcome.measured = f"{ratio:.1%}"
    return outcome


@check(id="quality.tests", title_en="Test pass rate", title_zh="测试通过率", category="quality",
       required=True, needs="junit")
async def tests_pass(ctx: GateContext) -> Outcome:
    path = ctx.inputs.junit
    assert path is not None
    root = _xml_root(path, "JUnit XML")
    if isinstance(root, Outcome):
        return root
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    counts = {k: sum(int(s.attrib.get(k, 0) or 0) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    evidence = {"file": str(path), **counts}
    ran = counts["tests"] - counts["skipped"]
    if ran <= 0:
        return failed(f"{path} records no test that ran", **evidence)
    bad = counts["failures"] + counts["errors"]
    outcome = (passed if bad == 0 else failed)(
        f"{ran - bad} of {ran} tests passed ({(ran - bad) / ran:.1%})"
        + (f", {counts['skipped']} skipped" if counts["skipped"] else ""), **evidence)
    outcome.measured = f"{(ran - bad) / ran:.1%}"
    return outcome


@check(id="quality.code_review", title_en="Code review", title_zh="代码审查", category="quality", required=False,
       weight=0.0)
async def code_review(ctx: GateContext) -> Outcome:
    return Outcome(status="manual", summary="settled by the approvers' sign-off, not by the gate")
