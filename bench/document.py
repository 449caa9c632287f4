"""The JSON every `diagops bench` mode writes: common envelope, objectives, verdict.

Versioned by `schema_version` and described by bench.schema.json next to this file;
`diagops verify --bench FILE` reads `kind`, `hit_ratio` and `finished_at` from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("bench.schema.json")
EXIT_PASSED, EXIT_MISSED = 0, 1


@dataclass(frozen=True)
class Objective:
    """One measured value against its limit from the spec."""

    name: str
    value: float | None
    limit: float
    at_least: bool  # True: value >= limit passes; False: value <= limit passes
    unit: str = ""

    @property
    def passed(self) -> bool:
        if self.value is None:
            return False
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def comparison_text(self) -> str:
        return f"{'≥' if self.at_least else '≤'} {self.limit:g}{self.unit}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "limit": self.limit,
                "comparison": ">=" if self.at_least else "<=", "unit": self.unit, "passed": self.passed}


def verdict(objectives: list[Objective], problems: list[str]) -> dict[str, Any]:
    """Passed when every objective holds and the run itself was sound (`problems` empty)."""
    reasons = problems + [f"{o.name} {_show(o)} misses {o.comparison_text()}" for o in objectives if not o.passed]
    passed = not reasons
    return {"passed": passed, "exit_code": EXIT_PASSED if passed else EXIT_MISSED, "reasons": reasons}


def _show(o: Objective) -> str:
    return "none" if o.value is None else f"{o.value:.4g}{o.unit}"


def envelope(kind: str, started_at: str, finished_at: str, target: dict[str, Any]) -> dict[str, Any]:
    return {"kind": f"diagops.bench.{kind}", "schema_version": SCHEMA_VERSION,
            "started_at": started_at, "finished_at": finished_at, "target": target}


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
