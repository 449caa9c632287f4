"""Entry points for the CLI and tests: the dashboard text and where its provisioning lives."""

from __future__ import annotations

from pathlib import Path

from diagops.dashboards.build import render
from diagops.spec import Spec

PROVISIONING = Path(__file__).resolve().parent / "provisioning"


def render_dashboard(spec: Spec) -> str:
    return render(spec)
