"""Each check fails on its own seeded fault, against a real `diagops serve` behind a fault proxy.

A gate that passes a broken build is the worst thing it can do, so every check the gate runs
against the target is shown here to fail when the thing it guards is broken, and the healthy
case (no fault) is shown to pass through the same proxy.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from diagops.checks.gate import GateRun, run_gate
from diagops.checks.inputs import GateInputs
from diagops.push.auth import mint_token
from diagops.spec import load_spec
from tests.gateproxy import GateProxy
from tests.servicekit import SECRET, serve_process

RUN_ID = "faults"


def user(name: str) -> str:
    return f"verify-{RUN_ID}-{name}"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with serve_process(tmp_path_factory.mktemp("serve")) as svc:
        yield svc


def spec(**overrides: Any) -> Any:
    return load_spec("/dev/null", env={}, overrides={"verify.final_timeout_s": 30, "verify.polling_executions": 20,
                                                     **overrides})


def gate(url: str, selection: str, inputs: GateInputs | None = None, **overrides: Any) -> GateRun:
    return asyncio.run(run_gate(spec(**overrides), url, SECRET, inputs=inputs or GateInputs(), selection=selection,
                                run_id=RUN_ID))


def statuses(run: GateRun) -> dict[str, str]:
    return {r.info.id: r.status for r in run.results}


def summary(run: GateRun, check_id: str) -> str:
    return next(r.outcome.summary for r in run.results if r.info.id == check_id)


TARGET_CHECKS = ("functional,perf.concurrent_sockets,push.latency_p95,diagnoses.error_rate,cache.hit_ratio,"
                 "monitoring.rules,monitoring.metrics")


def test_every_target_check_passes_through_a_proxy_without_faults(service):
    with GateProxy(service.url) as proxy:
        run = gate(proxy.url, TARGET_CHECKS)
    assert set(statuses(run).values()) == {"pass"}, [(r.info.id, r.status, r.outcome.summary) for r in run.results
                                                     if r.status != "pass"]
    assert len(run.results) == 13


@pytest.mark.parametrize(("faults", "check_id", "words"), [
    ({"auth_disabled": True}, "auth.refusals", "not refused"),
    ({"authz_disabled": (user("bob"), user("alice"))}, "auth.refusals", "another user"),
    ({"drop_seq": 3}, "push.end_to_end", "gap: seq 4 where 3 was due"),
    ({"duplicate_seq": 3}, "push.end_to_end", "duplicate: seq 3 where 4 was due"),
    ({"replay_broken": True}, "push.resume", "duplicate"),
    ({"strip_friendly": True}, "errors.friendly", "wrong"),
    ({"cache_busted": True}, "cache.identical", "not served from the cache"),
    ({"polling_frozen": True}, "polling.agrees", "disagreements"),
    ({"rename_metric": ("diagops_push_latency_seconds", "diagops_push_delay_seconds")}, "monitoring.metrics",
     "diagops_push_latency_seconds_bucket"),
    ({"http_500_on": "/api/v1/executions"}, "push.message_kinds", "answered 500"),
])
def test_each_check_fails_on_its_own_fault(service, faults, check_id, words):
    tokens = {user("alice"): mint_token(SECRET, user("alice"))}
    with GateProxy(service.url, faults, valid_token=tokens[user("alice")], user_tokens=tokens) as proxy:
        run = gate(proxy.url, check_id)
        fired = sum(proxy.stats.values())
    assert statuses(run) == {check_id: "fail"}, summary(run, check_id)
    assert words in summary(run, check_id)
    assert fired > 0
    assert run.verdict.result == "fail" and check_id in run.verdict.reason


def test_pushes_delayed_past_the_objective_fail_the_latency_check(service):
    # One socket per diagnosis holds every frame 0.3 s: live delivery p95 lands near that, far above 0.1 s.
    with GateProxy(service.url, {"push_delay_s": 0.3}) as proxy:
        run = gate(proxy.url, "push.latency_p95", **{"slo.delivery_latency.threshold_s": 0.1,
                                                     "slo.capacity.required_connections": 20})
    assert statuses(run) == {"push.latency_p95": "fail"}, summary(run, "push.latency_p95")
    assert "objective ≤ 0.1 s" in summary(run, "push.latency_p95")


def test_a_cache_that_never_hits_fails_the_hit_ratio(service):
    with GateProxy(service.url, {"cache_busted": True}) as proxy:
        run = gate(proxy.url, "cache.hit_ratio", **{"verify.cache_keys": 2, "verify.cache_repeats": 4})
    assert statuses(run) == {"cache.hit_ratio": "fail"}
    assert summary(run, "cache.hit_ratio").startswith("hit ratio 0.0%")


def test_a_rule_file_that_does_not_parse_fails_the_rules_check(service, tmp_path):
    rules = tmp_path / "broken.rules.yml"
    rules.write_text("groups:\n- name: diagops\n  rules:\n  - alert: Broken\n    expr: sum(rate(x[5m]\n", encoding="utf-8")
    run = gate(service.url, "monitoring.rules", GateInputs(rules=rules))
    assert statuses(run) == {"monitoring.rules": "fail"}
    assert summary(run, "monitoring.rules").startswith("promtool check rules failed")


def _coverage_xml(path: Path, rate: float) -> Path:
    path.write_text(f'<?xml version="1.0" ?>\n<coverage line-rate="{rate}" lines-valid="100" '
                    f'lines-covered="{int(rate * 100)}" version="7"><packages/></coverage>\n', encoding="utf-8")
    return path


def _junit_xml(path: Path, tests: int, failures: int) -> Path:
    path.write_text(f'<?xml version="1.0"?>\n<testsuites><testsuite name="pytest" tests="{tests}" failures="{failures}" '
                    f'errors="0" skipped="0"></testsuite></testsuites>\n', encoding="utf-8")
    return path


def test_coverage_under_the_objective_fails_and_over_it_passes(service, tmp_path):
    low = gate(service.url, "quality.coverage", GateInputs(coverage=_coverage_xml(tmp_path / "low.xml", 0.84)))
    high = gate(service.url, "quality.coverage", GateInputs(coverage=_coverage_xml(tmp_path / "high.xml", 0.85)))
    assert (statuses(low), statuses(high)) == ({"quality.coverage": "fail"}, {"quality.coverage": "pass"})
    assert summary(low, "quality.coverage") == "line coverage 84.0% (objective ≥ 85%)"


def test_a_failed_test_fails_the_pass_rate_and_an_empty_run_never_passes(service, tmp_path):
    one_failed = gate(service.url, "quality.tests", GateInputs(junit=_junit_xml(tmp_path / "a.xml", 300, 1)))
    empty = gate(service.url, "quality.tests", GateInputs(junit=_junit_xml(tmp_path / "b.xml", 0, 0)))
    assert summary(one_failed, "quality.tests") == "299 of 300 tests passed (99.7%)"
    assert (statuses(one_failed), statuses(empty)) == ({"quality.tests": "fail"}, {"quality.tests": "fail"})


def test_a_required_check_without_its_input_is_skipped_and_fails_the_release(service):
    run = gate(service.url, "quality")
    assert statuses(run) == {"quality.coverage": "skip", "quality.tests": "skip", "quality.code_review": "manual"}
    assert run.verdict.reason == "fail: 2 required checks had no data: quality.coverage, quality.tests"


def test_an_unreadable_input_file_fails_its_check(service, tmp_path):
    run = gate(service.url, "loadtest.results", GateInputs(loadtest=tmp_path))  # a directory: cannot be read
    [result] = run.results
    assert result.status == "fail" and "cannot read it as load-test results" in result.outcome.summary
