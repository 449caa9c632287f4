"""`monitoring.alerts_quiet` against a real Prometheus: quiet on a healthy target, red otherwise."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import pytest

from diagops.alerts.generate import render_rules
from diagops.checks.gate import GateRun, run_gate
from diagops.checks.inputs import GateInputs
from diagops.spec import load_spec
from tests.monitoring.promkit import PROFILE, prometheus
from diagops.procs.ports import free_port
from tests.servicekit import REPO, SECRET, serve_process
from tests.waiting import wait_for

RULES = REPO / "alerts" / "diagops.rules.yml"


def api(url: str, path: str) -> Any:
    with urllib.request.urlopen(url + path, timeout=5) as resp:
        return json.loads(resp.read())["data"]


def evaluated(url: str) -> bool:
    groups = api(url, "/api/v1/rules")["groups"]
    return bool(groups) and all(g.get("lastEvaluation", "").startswith("20") for g in groups)


def firing(url: str, name: str) -> bool:
    return any(a["labels"].get("alertname") == name and a["state"] == "firing" for a in api(url, "/api/v1/alerts")["alerts"])


def quiet_check(service_url: str, prometheus_url: str) -> GateRun:
    spec = load_spec("/dev/null", env={})
    return asyncio.run(run_gate(spec, service_url, SECRET, inputs=GateInputs(prometheus_url=prometheus_url),
                                selection="monitoring.alerts_quiet"))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with serve_process(tmp_path_factory.mktemp("serve")) as svc:
        yield svc


def test_a_healthy_target_with_the_rules_loaded_is_quiet(service, tmp_path):
    target = service.url.removeprefix("http://")
    with prometheus(tmp_path, [target], [RULES]) as prom:
        wait_for(lambda: evaluated(prom.url), 20, "the rule groups to be evaluated")
        [result] = quiet_check(service.url, prom.url).results
    assert (result.status, result.outcome.evidence["firing"]) == ("pass", [])
    assert result.outcome.summary.endswith("diagops alert rules loaded, none firing")


def test_a_firing_alert_fails_the_check_and_is_named(service, tmp_path):
    rules = tmp_path / "fast.rules.yml"
    rules.write_text(render_rules(load_spec(PROFILE, env={})), encoding="utf-8")
    with prometheus(tmp_path, [f"127.0.0.1:{free_port()}"], [rules]) as prom:  # nothing listens there: down
        wait_for(lambda: firing(prom.url, "DiagopsDown"), 30, "DiagopsDown to fire")
        [result] = quiet_check(service.url, prom.url).results
    assert result.status == "fail" and "DiagopsDown" in result.outcome.summary


def test_a_prometheus_without_the_rules_never_passes(service, tmp_path):
    with prometheus(tmp_path, [service.url.removeprefix("http://")], []) as prom:
        [result] = quiet_check(service.url, prom.url).results
    assert result.status == "fail" and "has no diagops alert rules loaded" in result.outcome.summary
