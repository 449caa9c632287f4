"""`diagops alerts generate | test`: promtool accepts the rules, the unit tests pass, and they bind the objectives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diagops.cli.__main__ import main
from tests.monitoring.promkit import require
from tests.servicekit import REPO

RULES = REPO / "alerts" / "diagops.rules.yml"


def test_promtool_accepts_the_committed_rules_and_their_unit_tests_pass(capsys: pytest.CaptureFixture[str]) -> None:
    require("promtool")
    assert main(["alerts", "test", "--rules", str(RULES), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and result["check"]["ok"] and result["unit"]["ok"]
    assert sorted(Path(t).name for t in result["tests"]) == ["burn-rate.test.yml", "healthy.test.yml", "service.test.yml"]
    assert "SUCCESS: 50 rules found" in result["check"]["output"]


def test_unit_tests_fail_on_rules_from_other_objectives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The unit tests are not vacuous: rules generated for a 5 % error budget must fail them."""
    require("promtool")
    spec = tmp_path / "diagops.yaml"
    spec.write_text("version: 1\nslo:\n  error_rate:\n    max_ratio: 0.05\n", encoding="utf-8")
    rules = tmp_path / "rules.yml"
    assert main(["alerts", "generate", "--spec", str(spec), "--out", str(rules)]) == 0
    capsys.readouterr()
    assert main(["alerts", "test", "--rules", str(rules)]) == 1
    captured = capsys.readouterr()
    assert "DiagopsDiagnosisErrorsFastBurn" in captured.err
    assert "diagops: error: promtool test rules failed" in captured.err


def test_missing_promtool_is_an_environment_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "test", "--rules", str(RULES), "--promtool", "/nonexistent/promtool"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["diagops: error: '/nonexistent/promtool' not found: install Prometheus's promtool "
                   "(Debian/Ubuntu: apt-get install prometheus) or pass --promtool PATH"]


def test_generate_writes_rules_and_runbook_then_check_sees_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "rules.yml"
    assert main(["alerts", "generate", "--out", str(out), "--spec", "/dev/null"]) == 0
    assert out.read_text() == RULES.read_text()
    assert (tmp_path / "out" / "RUNBOOK.md").read_text() == (REPO / "alerts" / "RUNBOOK.md").read_text()
    assert main(["alerts", "generate", "--out", str(out), "--spec", "/dev/null", "--check"]) == 0
    out.write_text(out.read_text() + "# edited by hand\n")
    capsys.readouterr()
    assert main(["alerts", "generate", "--out", str(out), "--spec", "/dev/null", "--check"]) == 1
    assert "out of date with the spec" in capsys.readouterr().err


def test_operator_format_and_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "generate", "--spec", "/dev/null", "--format", "prometheus-operator", "--out", "-"]) == 0
    assert "kind: PrometheusRule" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("slo:\n  delivery_latency:\n    threshold_s: 0.8\n",
         "'slo.delivery_latency.threshold_s' = 0.8 is not a bucket bound of diagops_push_latency_seconds"),
        ("slo:\n  capacity:\n    required_connections: 500\nlimits:\n  max_connections: 200\n",
         "'slo.capacity.required_connections' = 500 exceeds 'limits.max_connections' = 200"),
        ("slo:\n  alerting:\n    burn_rate_for: soon\n", "'slo.alerting.burn_rate_for'"),
        ("slo:\n  alerting:\n    burn_rate_windows:\n      - {severity: page, long_window: 5m, short_window: 1h, burn_rate: 2}\n",
         "short_window 1h must be shorter than long_window 5m"),
    ],
    ids=["threshold between buckets", "capacity below requirement", "bad duration", "short window longer"],
)
def test_specs_that_would_give_useless_rules_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_text: str, message: str
) -> None:
    spec = tmp_path / "diagops.yaml"
    spec.write_text(yaml_text, encoding="utf-8")
    assert main(["alerts", "generate", "--spec", str(spec), "--out", str(tmp_path / "r.yml")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r.yml").exists()
