"""One child process: started with its output in a log file, awaited until ready, stopped for sure.

In the manner of mirakuru (what pytest-redis runs on): the executor starts the
command, polls a readiness condition until a deadline while watching for the
child to exit first, and stops it with SIGTERM and, after a grace period,
SIGKILL. A child that dies or never gets ready raises a `StartError` that
carries the last lines of its log, so the caller's message says why. With
`new_session` the child leads its own process group and every signal goes to
the whole group, which reaches what the child started itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from diagops.procs.readiness import Readiness

TERM_GRACE_S = 10.0
FAILED_START_GRACE_S = 2.0  # a child that failed to get ready is not worth a long wait
READY_TIMEOUT_S = 20.0
TAIL_LINES = 20
_FIRST_PAUSE_S = 0.01
_LONGEST_PAUSE_S = 0.1


class StartError(RuntimeError):
    """The child did not become ready. `tail`: the last non-empty lines of its log."""

    def __init__(self, summary: str, *, log: Path, returncode: int | None) -> None:
        self.summary = summary
        self.log = log
        self.returncode = returncode
        self.tail = log_tail(log, TAIL_LINES)
        shown = "\n".join(f"  {line}" for line in self.tail) or "  (no output)"
        super().__init__(f"{summary} (log: {log}); its last lines:\n{shown}")

    def last_lines(self, n: int = 3) -> str:
        """The last `n` log lines on one line, for a one-line error message."""
        return " | ".join(self.tail[-n:])


class EarlyExit(StartError):
    """The child exited before it was ready."""


class NotReady(StartError):
    """The child was still running, but not ready, at the deadline."""


class Executor:
    """A command run as a child process, its stdout and stderr in `log` (truncated at each start)."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log: Path,
        ready: Readiness | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        name: str | None = None,
        new_session: bool = False,
        ready_timeout_s: float = READY_TIMEOUT_S,
        grace_s: float = TERM_GRACE_S,
    ) -> None:
        self.argv = [str(a) for a in argv]
        self.log = Path(log)
        self.ready = ready
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.name = name or Path(self.argv[0]).name
        self.new_session = new_session
        self.ready_timeout_s = ready_timeout_s
        self.grace_s = grace_s
        self.process: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ starting

    def start(self) -> Executor:
        """Start the child and, given a readiness condition, return only once it holds. On a
        StartError the child has been stopped."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_bytes(b"")
        # Appending, so a child that also writes this file itself (nginx's error log) does not overwrite it.
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=self.env, cwd=self.cwd, start_new_session=self.new_session,
            )
        if self.ready is not None:
            try:
                self.wait_ready(self.ready_timeout_s)
            except StartError:
                self.stop(FAILED_START_GRACE_S)
                raise
        return self

    def wait_ready(self, timeout_s: float) -> None:
        """Poll the readiness condition until it holds; EarlyExit if the child exits first,
        NotReady when `timeout_s` passes."""
        assert self.ready is not None and self.process is not None
        deadline = time.monotonic() + timeout_s
        pause = _FIRST_PAUSE_S
        while True:
            code = self.process.poll()
            if code is not None:
                raise EarlyExit(f"{self.name} exited with code {code} before it was ready", log=self.log, returncode=code)
            if self.ready.met(self.log):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NotReady(f"{self.name} was not ready within {timeout_s:g} s (waited for {self.ready})",
                               log=self.log, returncode=None)
            self.wait(min(pause, remaining))  # returns at once if the child exits meanwhile
            pause = min(pause * 2, _LONGEST_PAUSE_S)

    # ------------------------------------------------------------------ while it runs

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} has not been started")
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def poll(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def wait(self, timeout_s: float) -> int | None:
        """The exit code, or None if the child is still running after `timeout_s`."""
        assert self.process is not None
        try:
            return self.process.wait(timeout=max(timeout_s, 0.0))
        except subprocess.TimeoutExpired:
            return None

    def send_signal(self, signum: int) -> None:
        """Signal the child (its whole group with `new_session`); a child already gone is no error."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            if self.new_session:
                os.killpg(self.process.pid, signum)
            else:
                self.process.send_signal(signum)
        except ProcessLookupError:
            pass

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def last_lines(self, n: int = 3) -> str:
        """The last `n` non-empty log lines on one line, for a one-line error message."""
        return last_lines(self.log, n)

    # ------------------------------------------------------------------ stopping

    def stop(self, grace_s: float | None = None) -> int | None:
        """SIGTERM, then SIGKILL if the child is still there after `grace_s` (default: the
        executor's); the exit code, or None if it was never started. Safe to call twice."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.send_signal(signal.SIGTERM)
            if self.wait(self.grace_s if grace_s is None else grace_s) is None:
                self.kill()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL and reap: the crash case, no shutdown work at all."""
        if self.process is None:
            return
        self.send_signal(signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> Executor:
        return self if self.running else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def log_tail(log: Path, n: int = 3) -> list[str]:
    """The last `n` non-empty lines of a log, stripped ([] when it cannot be read)."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [line.strip() for line in lines if line.strip()][-n:]



def last_lines(log: Path, n: int = 3) -> str:
    """The last `n` non-empty lines of a log joined on one line, for a one-line error message."""
    return " | ".join(log_tail(log, n))
