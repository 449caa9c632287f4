"""What "ready" means for a child process: an HTTP status on a URL, a TCP port that accepts, a log line.

Each condition is asked `met(log)` with the path of the child's log, again and
again until it holds or the executor's deadline passes; its `str()` says what
was awaited, for the error when it never held.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from diagops.procs.probes import http_status, port_accepts


class Readiness(Protocol):
    def met(self, log: Path) -> bool: ...


@dataclass(frozen=True)
class HttpStatus:
    """GET `url` answers `status` (a readiness endpoint)."""

    url: str
    status: int = 200
    timeout_s: float = 1.0

    def met(self, log: Path) -> bool:
        return http_status(self.url, self.timeout_s) == self.status

    def __str__(self) -> str:
        return f"GET {self.url} to answer {self.status}"


@dataclass(frozen=True)
class TcpPort:
    """Something accepts connections on host:port."""

    port: int
    host: str = "127.0.0.1"

    def met(self, log: Path) -> bool:
        return port_accepts(self.port, self.host)

    def __str__(self) -> str:
        return f"{self.host}:{self.port} to accept connections"


@dataclass(frozen=True)
class LogLine:
    """A line of the child's log matches `pattern` (a regular expression, searched per line).
    The log is read whole on every check: meant for start-up logs, not for ones that grow large."""

    pattern: str

    def met(self, log: Path) -> bool:
        try:
            text = log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
        return re.search(self.pattern, text, re.MULTILINE) is not None

    def __str__(self) -> str:
        return f"a log line matching {self.pattern!r}"
