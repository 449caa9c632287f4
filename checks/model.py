"""What a check is and what it found: plain records, shared by the runner, scoring and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

Status = Literal["pass", "warn", "fail", "skip", "manual"]
STATUSES: Final = ("pass", "warn", "fail", "skip", "manual")
Category = Literal["functional", "performance", "monitoring", "quality"]
CATEGORIES: Final = ("functional", "performance", "monitoring", "quality")
# Points per status in the weighted score (Keptn: pass 1, warning 0.5, fail 0).
POINTS: Final = {"pass": 1.0, "warn": 0.5, "fail": 0.0}


@dataclass(frozen=True, kw_only=True)
class CheckInfo:
    """A check's identity and defaults; `needs` names the optional input without which it is skipped."""

    id: str
    title_en: str
    title_zh: str
    category: Category
    required: bool
    weight: float = 1.0
    needs: str | None = None  # "prometheus_url", "loadtest", "bench", "coverage", "junit" or None (the target)

    def title(self, lang: str) -> str:
        return self.title_zh if lang == "zh" else self.title_en


@dataclass(kw_only=True)
class Outcome:
    """What a check function returns: its status, one line saying why, and the evidence behind it."""

    status: Status
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    measured: str | None = None  # the figure the performance table shows ("p95 0.012 s")


def passed(summary: str, **evidence: Any) -> Outcome:
    return Outcome(status="pass", summary=summary, evidence=evidence)


def failed(summary: str, **evidence: Any) -> Outcome:
    return Outcome(status="fail", summary=summary, evidence=evidence)


def warned(summary: str, **evidence: Any) -> Outcome:
    return Outcome(status="warn", summary=summary, evidence=evidence)


def skipped(summary: str, **evidence: Any) -> Outcome:
    return Outcome(status="skip", summary=summary, evidence=evidence)


@dataclass(kw_only=True)
class CheckResult:
    """One check's line in the result: its settings as run, its outcome, how long it took."""

    info: CheckInfo
    required: bool
    weight: float
    outcome: Outcome
    duration_s: float
    command: str

    @property
    def status(self) -> Status:
        return self.outcome.status

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.info.id,
            "title": {"en": self.info.title_en, "zh": self.info.title_zh},
            "category": self.info.category,
            "required": self.required,
            "weight": self.weight,
            "status": self.status,
            "summary": self.outcome.summary,
            "measured": self.outcome.measured,
            "evidence": self.outcome.evidence,
            "duration_s": round(self.duration_s, 3),
            "command": self.command,
        }
