"""The process executor against real short-lived children (`python -c`): ready by HTTP, port and log
line; an early exit and a deadline reported with the log's tail; SIGTERM, then SIGKILL."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import psutil
import pytest

from diagops.procs.executor import EarlyExit, Executor, NotReady
from diagops.procs.ports import free_port
from diagops.procs.probes import http_status, port_accepts
from diagops.procs.readiness import HttpStatus, LogLine, TcpPort
from tests.waiting import wait_for

# Children announce themselves late on purpose: a condition checked once, too early, would fail.
HTTP_SERVER = """
import http.server, sys, time
time.sleep(0.3)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
"""
LISTENER = """
import socket, sys, time
time.sleep(0.3)
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)
"""
PRINTS_READY = "import time; time.sleep(0.3); print('warming up'); print('ready on 7', flush=True); time.sleep(60)"
FAILS = "import sys; print('loading config'); print('fatal: bad config', file=sys.stderr); sys.exit(3)"
SILENT = "import time; time.sleep(60)"
IGNORES_SIGTERM = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('armed', flush=True); "
                   "time.sleep(60)")
HAS_A_CHILD = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
               "print('child', p.pid, flush=True); time.sleep(60)")


def python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "child.log"


def test_ready_when_the_url_answers_200(log: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with Executor(python(HTTP_SERVER, str(port)), log=log, ready=HttpStatus(url), name="http") as child:
        assert child.running
        assert http_status(url) == 200
        assert http_status(url + "missing") == 404
    assert http_status(url) is None  # stopped with the block


def test_ready_when_the_port_accepts(log: Path) -> None:
    port = free_port()
    assert not port_accepts(port)
    with Executor(python(LISTENER, str(port)), log=log, ready=TcpPort(port)):
        assert port_accepts(port)


def test_ready_when_a_log_line_matches(log: Path) -> None:
    with Executor(python(PRINTS_READY), log=log, ready=LogLine(r"^ready on \d+$")) as child:
        assert child.last_lines() == "warming up | ready on 7"


def test_an_early_exit_is_reported_with_the_code_and_the_log_tail(log: Path) -> None:
    executor = Executor(python(FAILS), log=log, ready=LogLine("never"), name="failing")
    with pytest.raises(EarlyExit) as caught:
        executor.start()
    assert caught.value.returncode == 3
    assert caught.value.tail == ["loading config", "fatal: bad config"]
    assert caught.value.last_lines() == "loading config | fatal: bad config"
    assert str(caught.value).startswith("failing exited with code 3 before it was ready")
    assert "fatal: bad config" in str(caught.value)


def test_a_child_never_ready_times_out_and_is_stopped(log: Path) -> None:
    executor = Executor(python(SILENT), log=log, ready=LogLine("ready"), name="silent", ready_timeout_s=0.5)
    with pytest.raises(NotReady, match=r"silent was not ready within 0.5 s \(waited for a log line matching 'ready'\)"):
        executor.start()
    assert executor.poll() is not None  # not left running


def test_stop_sends_sigterm_first(log: Path) -> None:
    child = Executor(python(PRINTS_READY), log=log, ready=LogLine("ready")).start()
    assert child.stop() == -signal.SIGTERM
    assert child.stop() == -signal.SIGTERM  # a second stop is harmless


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(log: Path) -> None:
    child = Executor(python(IGNORES_SIGTERM), log=log, ready=LogLine("armed")).start()
    assert child.stop(grace_s=0.3) == -signal.SIGKILL


def test_a_new_session_is_stopped_as_a_whole_group(log: Path) -> None:
    child = Executor(python(HAS_A_CHILD), log=log, ready=LogLine(r"^child \d+"), new_session=True).start()
    grandchild = psutil.Process(int(child.last_lines(1).split()[1]))
    assert child.stop() == -signal.SIGTERM
    wait_for(lambda: _ended(grandchild), 5, "the grandchild to end with its group")


def test_without_a_condition_start_returns_at_once_and_wait_reports_the_exit(log: Path) -> None:
    child = Executor(python(FAILS), log=log).start()
    assert child.wait(10) == 3
    assert child.stop() == 3


def test_each_start_begins_a_fresh_log(log: Path) -> None:
    log.write_text("a previous run's lines\n")
    child = Executor(python(FAILS), log=log).start()
    child.wait(10)
    assert "previous" not in child.log_text()


def _ended(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
