"""One verdict from many results, Keptn's way, with a reason that names what decided it.

Any failed or skipped required check fails the release. Otherwise the weighted score over the
checks that ran (pass 1, warn 0.5, fail 0) is compared with `verify.score.pass` and `.warn`.
Skipped optional checks, deselected checks and manual items are listed but never scored: a check
with no data never counts as passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def _ids(results: list[CheckResult]) -> str:
    return ", ".join(r.info.id for r in results)


def verdict(results: list[CheckResult], thresholds: ScoreThresholds) -> Verdict:
    failed_required = [r for r in results if r.required and r.status == "fail"]
    skipped_required = [r for r in results if r.required and r.status == "skip"]
    scored = [r for r in results if r.status in POINTS and r.weight > 0]
    total = sum(r.weight for r in scored)
    score = round(100 * sum(r.weight * POINTS[r.status] for r in scored) / total, 1) if total else None
    if failed_required or skipped_required:
        parts = []
        if failed_required:
            n = len(failed_required)
            parts.append(f"{n} required check{'s' if n > 1 else ''} failed: {_ids(failed_required)}")
        if skipped_required:
            n = len(skipped_required)
            parts.append(f"{n} required check{'s' if n > 1 else ''} had no data: {_ids(skipped_required)}")
        return Verdict("fail", score, "fail: " + "; ".join(parts), [r.info.id for r in failed_required + skipped_required])
    if score is None:
        return Verdict("fail", None, "fail: no check ran, so nothing was shown to work", [])
    low = [r for r in scored if r.status != "pass"]
    detail = f" ({_ids(low)} not passed)" if low else ""
    if score >= thresholds.pass_:
        return Verdict("pass", score, f"pass: score {score:g} % ≥ {thresholds.pass_:g} %, "
                       f"{len(scored) - len(low)} of {len(scored)} checks passed{detail}", [r.info.id for r in low])
    result, op = ("warn", "≥") if score >= thresholds.warn else ("fail", "<")
    return Verdict(result, score, f"{result}: score {score:g} % {op} {thresholds.warn:g} % "
                   f"(pass at {thresholds.pass_:g} %){detail}", [r.info.id for r in low])
