"""The verdict: Keptn's rules, and a reason that names the checks that decided it."""

from __future__ import annotations

import pytest

from diagops.checks.model import CheckInfo, CheckResult, Outcome
from diagops.checks.scoring import verdict
from diagops.spec.verify import ScoreThresholds

THRESHOLDS = ScoreThresholds.model_validate({"pass": 90, "warn": 75})


def result(check_id: str, status: str, *, required: bool = True, weight: float = 1.0) -> CheckResult:
    info = CheckInfo(id=check_id, title_en=check_id, title_zh=check_id, category="functional", required=required)
    return CheckResult(info=info, required=required, weight=weight, outcome=Outcome(status=status, summary="s"),
                       duration_s=0.0, command="c")


@pytest.mark.parametrize(("results", "want", "reason"), [
    ([result("a.one", "pass"), result("a.two", "pass")], "pass", "pass: score 100 % ≥ 90 %, 2 of 2 checks passed"),
    ([result("a.one", "pass"), result("auth.refusals", "fail"), result("push.latency_p95", "fail")], "fail",
     "fail: 2 required checks failed: auth.refusals, push.latency_p95"),
    ([result("a.one", "pass"), result("quality.coverage", "skip")], "fail",
     "fail: 1 required check had no data: quality.coverage"),
    ([result("a.one", "pass"), result("opt.x", "skip", required=False)], "pass",
     "pass: score 100 % ≥ 90 %, 1 of 1 checks passed"),
    ([result("a.one", "pass")] * 3 + [result("opt.x", "warn", required=False)], "warn",
     "warn: score 87.5 % ≥ 75 % (pass at 90 %) (opt.x not passed)"),
    ([result("a.one", "pass"), result("opt.x", "fail", required=False), result("opt.y", "fail", required=False)], "fail",
     "fail: score 33.3 % < 75 % (pass at 90 %) (opt.x, opt.y not passed)"),
    ([result("opt.x", "skip", required=False), result("review", "manual", required=False, weight=0)], "fail",
     "fail: no check ran, so nothing was shown to work"),
    ([result("a.one", "pass", weight=9), result("opt.x", "fail", required=False, weight=1)], "pass",
     "pass: score 90 % ≥ 90 %, 1 of 2 checks passed (opt.x not passed)"),
])
def test_the_verdict_and_its_reason(results, want, reason):
    got = verdict(results, THRESHOLDS)
    assert (got.result, got.reason) == (want, reason)


def test_a_warn_on_a_required_check_only_lowers_the_score():
    got = verdict([result("a.one", "pass"), result("a.two", "warn")], THRESHOLDS)
    assert (got.result, got.score, got.deciding) == ("warn", 75.0, ["a.two"])


def test_manual_items_are_never_scored():
    got = verdict([result("a.one", "pass"), result("review", "manual", required=False)], THRESHOLDS)
    assert (got.result, got.score) == ("pass", 100.0)


@pytest.mark.parametrize(("results", "reason"), [
    ([result("a.one", "pass"), result("auth.refusals", "fail")], "fail: 1 项必需检查失败：auth.refusals"),
    ([result("a.one", "pass")] * 3 + [result("opt.x", "warn", required=False)],
     "warn: 得分 87.5 % ≥ 75 %（通过线 90 %）（opt.x 未通过）"),
    ([result("a.one", "pass"), result("a.two", "pass")], "pass: 得分 100 % ≥ 90 %，2 项检查中 2 项通过"),
])
def test_a_zh_report_gives_its_reason_in_chinese_with_the_same_ids_and_numbers(results, reason):
    assert verdict(results, THRESHOLDS, "zh").reason == reason
