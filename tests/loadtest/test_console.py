"""The live view: what a person reads while the run goes, in particular once its time is up."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from diagops.loadtests.console import LiveState


def _shown(state: LiveState) -> str:
    console = Console(record=True, width=200, color_system=None)
    console.print(state.render())
    return console.export_text()


def _state(tmp_path: Path, row: dict) -> LiveState:
    path = tmp_path / "timeseries.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    state = LiveState(path, duration_s=10, users=5, stop_timeout_s=30)
    state.poll()
    return state


def test_while_running_it_shows_the_time_left(tmp_path):
    shown = _shown(_state(tmp_path, {"t": 4.0, "phase": "running", "users": 5, "open_sockets": 5}))
    assert "6 s" in shown and "in flight" not in shown


def test_after_the_run_time_it_shows_what_it_waits_for_and_for_how_long_at_most(tmp_path):
    shown = _shown(_state(tmp_path, {"t": 15.0, "phase": "stopping", "users": 2, "open_sockets": 2}))
    assert "0 s" not in shown
    assert "2 users finishing their diagnosis" in shown and "at most 25 s more" in shown
