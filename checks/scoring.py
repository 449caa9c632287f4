"""One verdict from many results, Keptn's way, with a reason that names what decided it.

Any failed or skipped required check fails the release. Otherwise the weighted score over the
checks that ran (pass 1, warn 0.5, fail 0) is compared with `verify.score.pass` and `.warn`.
Skipped optional checks, deselected checks and manual items are listed but never scored: a check
with no data never counts as passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from diagops.checks.model import POINTS, CheckResult
from diagops.spec.verify import ScoreThresholds


@dataclass(frozen=True)
class Verdict:
    result: str  # pass | warn | fail
    score: float | None  # percent, None when nothing was scored
    reason: str
    deciding: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"result": self.result, "score": self.score, "reason": self.reason, "deciding": self.deciding}


# The reason in the report's language; the ids and numbers are the same in both.
REASONS: Final = {
    "en": {
        "failed": "{n} required check{s} failed: {ids}", "no_data": "{n} required check{s} had no data: {ids}",
        "nothing_ran": "no check ran, so nothing was shown to work",
        "pass": "score {score:g} % ≥ {pass_at:g} %, {passed} of {scored} checks passed",
        "low": "score {score:g} % {op} {warn_at:g} % (pass at {pass_at:g} %)", "not_passed": " ({ids} not passed)",
        "joiner": "; ",
    },
    "zh": {
        "failed": "{n} 项必需检查失败：{ids}", "no_data": "{n} 项必需检查没有数据：{ids}",
        "nothing_ran": "没有任何检查运行，无法证明任何功能可用",
        "pass": "得分 {score:g} % ≥ {pass_at:g} %，{scored} 项检查中 {passed} 项通过",
        "low": "得分 {score:g} % {op} {warn_at:g} %（通过线 {pass_at:g} %）", "not_passed": "（{ids} 未通过）",
        "joiner": "；",
    },
}


def _ids(results: list[CheckResult]) -> str:
    return ", ".join(r.info.id for r in results)


def verdict(results: list[CheckResult], thresholds: ScoreThresholds, lang: str = "en") -> Verdict:
    words = REASONS[lang]
    failed_required = [r for r in results if r.required and r.status == "fail"]
    skipped_required = [r for r in results if r.required and r.status == "skip"]
    scored = [r for r in results if r.status in POINTS and r.weight > 0]
    total = sum(r.weight for r in scored)
    score = round(100 * sum(r.weight * POINTS[r.status] for r in scored) / total, 1) if total else None
    if failed_required or skipped_required:
        parts = [words[key].format(n=len(group), s="s" if len(group) > 1 else "", ids=_ids(group))
                 for key, group in (("failed", failed_required), ("no_data", skipped_required)) if group]
        return Verdict("fail", score, "fail: " + words["joiner"].join(parts),
                       [r.info.id for r in failed_required + skipped_required])
    if score is None:
        return Verdict("fail", None, "fail: " + words["nothing_ran"], [])
    low = [r for r in scored if r.status != "pass"]
    detail = words["not_passed"].format(ids=_ids(low)) if low else ""
    numbers = {"score": score, "pass_at": thresholds.pass_, "warn_at": thresholds.warn}
    if score >= thresholds.pass_:
        text = words["pass"].format(passed=len(scored) - len(low), scored=len(scored), **numbers)
        return Verdict("pass", score, f"pass: {text}{detail}", [r.info.id for r in low])
    result, op = ("warn", "≥") if score >= thresholds.warn else ("fail", "<")
    return Verdict(result, score, f"{result}: {words['low'].format(op=op, **numbers)}{detail}", [r.info.id for r in low])
