"""Golden files: the committed artifacts, and in-*.yaml -> out-* pairs, equal what the generators give now.

Regenerate after an intended change with `UPDATE_GOLDEN=1 pytest tests/monitoring` (the committed
artifacts with `diagops alerts generate` and `diagops dashboards generate`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from diagops.alerts import render_rules, render_runbook
from diagops.dashboards.generate import render_dashboard
from diagops.spec import Spec, load_spec
from tests.servicekit import REPO

GOLDEN = Path(__file__).parent / "golden"


def repo_spec() -> Spec:
    """What the committed artifacts are generated from: ./diagops.yaml when present, else the defaults.

    No environment: a DIAGOPS_* variable on a developer's machine must not change the expected files.
    """
    path = REPO / "diagops.yaml"
    return load_spec(path if path.is_file() else os.devnull, env={})


@pytest.mark.parametrize(
    ("artifact", "render"),
    [
        ("alerts/diagops.rules.yml", lambda s: render_rules(s)),
        ("alerts/RUNBOOK.md", render_runbook),
        ("dashboards/diagops.json", render_dashboard),
    ],
)
def test_committed_artifact_matches_the_spec(artifact: str, render) -> None:
    committed = (REPO / artifact).read_text(encoding="utf-8")
    assert render(repo_spec()) == committed, f"{artifact} drifted from the spec: run `diagops alerts generate` / `diagops dashboards generate`"


def _pairs() -> list[tuple[Path, Path, str]]:
    cases = []
    for source in sorted(GOLDEN.glob("in-*.yaml")):
        stem = source.stem[len("in-"):]
        cases.append((source, GOLDEN / f"out-{stem}.rules.yml", "prometheus"))
    cases.append((GOLDEN / "in-strict.yaml", GOLDEN / "out-strict.operator.yml", "prometheus-operator"))
    return cases


@pytest.mark.parametrize(("source", "expected", "fmt"), _pairs(), ids=lambda v: getattr(v, "name", v))
def test_golden_spec_gives_golden_rules(source: Path, expected: Path, fmt: str) -> None:
    got = render_rules(load_spec(source, env={}), fmt)  # type: ignore[arg-type]
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected.write_text(got, encoding="utf-8")
    assert expected.is_file(), f"no golden file {expected.name}: run with UPDATE_GOLDEN=1 once and review it"
    assert got == expected.read_text(encoding="utf-8")


def test_a_stricter_objective_moves_every_burn_threshold() -> None:
    """99.9 % over 28 days: budget 0.001; 2 % of a 28-day budget in 1 h is a 13.44x burn."""
    rules = yaml.safe_load(render_rules(load_spec(GOLDEN / "in-strict.yaml", env={})))
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    fast = alerts["DiagopsDiagnosisErrorsFastBurn"]["expr"]
    assert "> (13.44 * 0.001)" in fast and "> (5.6 * 0.001)" in fast
    assert 'le="0.5"' in yaml.safe_dump(rules)
    assert alerts["DiagopsDown"]["expr"] == 'up{job="diagops-push"} == 0'
    assert alerts["DiagopsConnectionsNearCapacity"]["expr"].endswith(">= 1600")
    assert alerts["DiagopsDown"]["annotations"]["runbook_url"] == "https://runbooks.example.org/diagops.md#diagopsdown"


def test_page_only_windows_generate_no_ticket_alerts() -> None:
    rules = yaml.safe_load(render_rules(load_spec(GOLDEN / "in-page-only.yaml", env={})))
    names = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert "DiagopsDiagnosisErrorsFastBurn" in names
    assert not [n for n in names if n.endswith("SlowBurn")]


def test_operator_format_wraps_the_same_groups() -> None:
    spec = Spec()
    plain = yaml.safe_load(render_rules(spec))
    wrapped = yaml.safe_load(render_rules(spec, "prometheus-operator"))
    assert wrapped["apiVersion"] == "monitoring.coreos.com/v1" and wrapped["kind"] == "PrometheusRule"
    assert wrapped["spec"]["groups"] == plain["groups"]


def test_every_alert_names_severity_summary_description_and_a_runbook_section() -> None:
    spec = repo_spec()
    rules = yaml.safe_load(render_rules(spec))
    runbook = render_runbook(spec)
    headings = {line[3:].strip().lower() for line in runbook.splitlines() if line.startswith("## ")}
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) == 16
    for alert in alerts:
        assert alert["labels"]["severity"] in ("critical", "warning"), alert["alert"]
        notes = alert["annotations"]
        assert notes["summary"] and notes["description"], alert["alert"]
        assert "$value" in notes["summary"] + notes["description"] or alert["alert"] in ("DiagopsDown", "DiagopsAbsent"), alert["alert"]
        assert notes["runbook_url"].split("#")[1] in headings, alert["alert"]
