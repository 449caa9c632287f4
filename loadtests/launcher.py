"""Child processes with an outer bound: SIGTERM at the deadline, SIGKILL if that is ignored.

Locust sometimes does not exit at `-t` (FINDINGS.md: about one run in twenty),
so every child started here lives in its own process group and is ended by
`stop()` whatever state it is in. Used for the Locust master, local runner and
workers, and for the embedded push service.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

TERM_GRACE_S = 10.0


class Child:
    """One child process whose output goes to a log file."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log_handle = open(log, "wb")
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,  # its own process group: stop() reaches its children too
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout_s: float) -> int | None:
        """The exit code, or None if it is still running after `timeout_s`."""
        try:
            return self.proc.wait(timeout=max(timeout_s, 0.0))
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace_s: float = TERM_GRACE_S) -> int:
        """SIGTERM the group, then SIGKILL after `grace_s`; returns the exit code."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            if self.wait(grace_s) is None:
                self._signal(signal.SIGKILL)
                self.proc.wait()
        self._log_handle.close()
        return self.proc.returncode

    def last_lines(self, n: int = 3) -> str:
        return tail(self.log, n)

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self.proc.pid, signum)
        except ProcessLookupError:
            pass


def tail(log: Path, n: int = 3) -> str:
    """The last non-empty lines of a log joined on one line, for a one-line error message."""
    try:
        lines = [ln.strip() for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])

