"""What the gate is given besides the target: files of other tools and an optional Prometheus."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class GateInputs:
    loadtest: Path | None = None  # diagops loadtest results.json
    bench: Path | None = None  # diagops bench JSON
    coverage: Path | None = None  # Cobertura coverage.xml (coverage.py, pytest-cov)
    junit: Path | None = None  # JUnit XML of the test run
    prometheus_url: str | None = None
    rules: Path | None = None  # a rule file to check instead of the one generated from the spec

    def has(self, name: str) -> bool:
        return getattr(self, name) is not None
