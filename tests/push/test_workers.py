"""run_workers: N processes on one port, signals forwarded, dead workers replaced, bad starts fatal."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from diagops.push.workers import run_workers
from diagops.procs.ports import free_port
from tests.waiting import wait_for

APP = Path(__file__).with_name("workers_app.py")


def pid_on(port: int) -> int | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return int(sock.makefile().readline())
    except (OSError, ValueError):
        return None


def start(mode: str, min_uptime_s: float = 5.0) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(APP), str(port), mode, str(min_uptime_s)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, port


def pids_answering(port: int, want: int) -> set[int]:
    seen: set[int] = set()

    def enough() -> bool:
        pid = pid_on(port)
        if pid is not None:
            seen.add(pid)
        return len(seen) >= want

    wait_for(enough)
    return seen


def test_workers_share_the_port_and_stop_cleanly_on_sigterm() -> None:
    process, port = start("serve")
    try:
        pids = pids_answering(port, 2)  # the kernel spread connections over both workers
        assert {c.pid for c in psutil.Process(process.pid).children()} == pids
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
    finally:
        process.kill()


def test_a_worker_that_fails_at_start_stops_everything_with_its_status() -> None:
    process, _ = start("fail")
    try:
        assert process.wait(10) == 1
        assert "cannot reach the store" in process.stderr.read()
    finally:
        process.kill()


@pytest.mark.parametrize("mode", ["serve", "silent"])
def test_a_worker_killed_after_it_started_is_replaced(mode: str) -> None:
    """Started means notify_ready() was called (`serve`), or min_uptime_s passed (`silent`, 0.3 s)."""
    process, port = start(mode, min_uptime_s=0.3 if mode == "silent" else 60)
    try:
        first = pids_answering(port, 2)
        victim = min(first)
        if mode == "silent":
            # Here the condition is time itself: the worker must outlive min_uptime_s.
            answered = time.monotonic()
            wait_for(lambda: time.monotonic() - answered > 0.4)
        psutil.Process(victim).kill()

        def replaced() -> set[int] | None:
            children = {c.pid for c in psutil.Process(process.pid).children()}
            return children if len(children) == 2 and victim not in children else None

        children = wait_for(replaced)
        assert pids_answering(port, 2) == children
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        process.kill()


def test_a_worker_that_dies_before_it_started_stops_everything() -> None:
    process, port = start("silent", min_uptime_s=60)
    try:
        victim = min(pids_answering(port, 2))
        psutil.Process(victim).kill()
        assert process.wait(10) == 128 + signal.SIGKILL
        assert "before serving" in process.stderr.read()
    finally:
        process.kill()


def test_a_worker_ignoring_sigterm_is_killed_after_the_grace_period() -> None:
    process, port = start("stubborn")
    try:
        pids_answering(port, 2)
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 128 + signal.SIGKILL
        assert 0.9 < time.monotonic() - began < 5  # grace_s is 1
    finally:
        process.kill()


def test_workers_die_with_their_supervisor() -> None:
    process, port = start("serve")
    try:
        pids = pids_answering(port, 2)
        process.kill()
        process.wait(10)
        wait_for(lambda: not any(psutil.pid_exists(pid) for pid in pids))
        assert pid_on(port) is None
    finally:
        process.kill()


def test_at_least_one_worker() -> None:
    with pytest.raises(ValueError):
        run_workers(0, lambda: None)
