"""The push service `diagops loadtest` starts when no `--host` is given.

It runs `diagops serve` in its own process (memory store, simulated engine) on
a free loopback port, so the generator and the service never share an
interpreter, and stops it afterwards. Failures to start are environment errors
(exit 3) with the service's last log lines.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from diagops.loadtests.launcher import Child

READY_TIMEOUT_S = 20.0
START_ATTEMPTS = 3  # a freshly chosen free port can be taken before the service binds it


class ServiceError(Exception):
    """The service could not be started or reached; the message is one readable line."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def probe(url: str, timeout_s: float = 2.0) -> int | None:
    """The HTTP status of GET `url`, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (http only, ours)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def check_reachable(host: str) -> None:
    """Raise ServiceError unless `host` answers /readyz with 200 (a target must be up and ready)."""
    status = probe(host.rstrip("/") + "/readyz", timeout_s=5.0)
    if status is None:
        raise ServiceError(f"cannot reach {host} (nothing answers {host.rstrip('/')}/readyz)")
    if status != 200:
        raise ServiceError(f"{host} is not ready (/readyz answered {status})")


class EmbeddedService:
    """`diagops serve` on 127.0.0.1:<free port> for the length of a `with` block."""

    def __init__(self, log: Path, *, secret: str, engine_speed: float | None, config: Path | None = None) -> None:
        self.log = log
        self.secret = secret
        self.engine_speed = engine_speed
        self.config = config
        self.port = 0
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> EmbeddedService:
        last = ""
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            self.child = Child("service", self._argv(), self.log, self._env())
            if self._wait_ready():
                return self
            last = self.child.last_lines()
            self.child.stop(grace_s=2.0)
            self.child = None
        raise ServiceError(f"the embedded push service did not become ready: {last or 'no output'}")

    def __exit__(self, *exc: object) -> None:
        if self.child is not None:
            self.child.stop()

    def _argv(self) -> list[str]:
        argv = [sys.executable, "-m", "diagops", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.config is not None:
            argv += ["--config", str(self.config)]
        return argv

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DIAGOPS_JWT_SECRET"] = self.secret
        if self.engine_speed is not None:
            env["DIAGOPS_ENGINE__SPEED"] = f"{self.engine_speed:g}"
        return env

    def _wait_ready(self) -> bool:
        """Poll /readyz until 200, the process exits, or READY_TIMEOUT_S passes."""
        assert self.child is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        pause = 0.05
        while time.monotonic() < deadline:
            if self.child.poll() is not None:
                return False
            if probe(self.url + "/readyz", timeout_s=1.0) == 200:
                return True
            self.child.wait(pause)  # returns early if the service dies
            pause = min(pause * 2, 0.5)
        return False
