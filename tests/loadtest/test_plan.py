"""The Locust command lines a plan turns into, and the outer time bound around them."""

from __future__ import annotations

from pathlib import Path

import pytest

from diagops.loadtests.plan import LOCUSTFILE, Plan, run_duration


@pytest.mark.parametrize(("text", "seconds"), [("60", 60), ("60s", 60), ("2m", 120), ("1h30m", 5400), ("1.5m", 90)])
def test_durations_read_as_seconds(text: str, seconds: float) -> None:
    assert run_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "0s", "5m10", "-3s"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        run_duration(text)


def plan(**kw: object) -> Plan:
    base: dict[str, object] = {"host": "http://127.0.0.1:8765", "users": 100, "spawn_rate": 20.0,
                               "duration_s": 60.0, "out": Path("/tmp/o")}
    base.update(kw)
    return Plan(**base)  # type: ignore[arg-type]


def test_a_single_process_run_is_headless_with_reports_and_our_options() -> None:
    argv = plan().main_command()
    assert argv[1:5] == ["-m", "locust", "-f", str(LOCUSTFILE)]
    for flag in ("--headless", "--csv", "--html", "--diagops-out", "--stop-timeout", "--diagnose-weight"):
        assert flag in argv
    assert argv[argv.index("-t") + 1] == "60s" and argv[argv.index("-u") + 1] == "100"
    assert "--master" not in argv


def test_a_fractional_duration_is_rounded_up_for_locust_which_takes_whole_seconds() -> None:
    argv = plan(duration_s=32.5).main_command()
    assert argv[argv.index("-t") + 1] == "33s"


def test_workers_make_a_master_on_loopback_and_workers_that_join_it() -> None:
    p = plan(workers=2, master_port=6001)
    master = p.main_command()
    assert master[master.index("--expect-workers") + 1] == "2"
    assert master[master.index("--master-bind-host") + 1] == "127.0.0.1"
    worker = p.worker_command()
    assert "--worker" in worker and worker[worker.index("--master-port") + 1] == "6001"
    assert p.local_workers == 2


def test_a_master_for_remote_workers_starts_none_itself() -> None:
    p = plan(workers=3, master_bind=("0.0.0.0", 5557))
    assert p.local_workers == 0 and p.distributed
    assert p.main_command()[p.main_command().index("--master-bind-host") + 1] == "0.0.0.0"


def test_the_ui_replaces_headless_and_stays_on_loopback() -> None:
    argv = plan(ui=True).main_command()
    assert "--headless" not in argv and "--autostart" in argv
    assert argv[argv.index("--web-host") + 1] == "127.0.0.1"


def test_the_outer_bound_covers_ramp_up_run_and_stop_timeout() -> None:
    p = plan(users=100, spawn_rate=20.0, duration_s=60.0, stop_timeout_s=30.0)
    assert 60 + 5 + 30 < p.deadline_s <= 60 + 5 + 30 + 60
