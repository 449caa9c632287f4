"""The push service `diagops loadtest` starts when no `--host` is given.

It runs `diagops serve` in its own process (memory store, simulated engine) on
a free loopback port, so the generator and the service never share an
interpreter, and stops it afterwards. Failures to start are environment errors
(exit 3) with the service's last log lines.
"""

from __future__ import annotations

from pathlib import Path

from diagops.procs.executor import Executor, StartError
from diagops.procs.probes import http_status
from diagops.procs.service import READY_PATH, ServiceProcess, start_service


class ServiceError(Exception):
    """The service could not be started or reached; the message is one readable line."""


def check_reachable(host: str) -> None:
    """Raise ServiceError unless `host` answers /readyz with 200 (a target must be up and ready)."""
    ready_url = host.rstrip("/") + READY_PATH
    status = http_status(ready_url, timeout_s=5.0)
    if status is None:
        raise ServiceError(f"cannot reach {host} (nothing answers {ready_url})")
    if status != 200:
        raise ServiceError(f"{host} is not ready (/readyz answered {status})")


class EmbeddedService:
    """`diagops serve` on 127.0.0.1:<free port> for the length of a `with` block."""

    def __init__(self, log: Path, *, secret: str, engine_speed: float | None, config: Path | None = None) -> None:
        self.log = log
        self.secret = secret
        self.engine_speed = engine_speed
        self.config = config
        self.service: ServiceProcess | None = None

    @property
    def url(self) -> str:
        assert self.service is not None, "the embedded service has not been started"
        return self.service.url

    @property
    def port(self) -> int:
        assert self.service is not None, "the embedded service has not been started"
        return self.service.port

    @property
    def child(self) -> Executor | None:
        """The service's process (benchmarks pin it to a core and count its CPU)."""
        return self.service.executor if self.service is not None else None

    def __enter__(self) -> EmbeddedService:
        try:
            # Its own process group, as the Locust children have: stopping it reaches all it started.
            self.service = start_service(self.log, config=self.config, env=self._env(), new_session=True)
        except StartError as exc:
            raise ServiceError(f"the embedded push service did not become ready: {exc.last_lines() or 'no output'}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.service is not None:
            self.service.stop()

    def _env(self) -> dict[str, str]:
        env = {"DIAGOPS_JWT_SECRET": self.secret}
        if self.engine_speed is not None:
            env["DIAGOPS_ENGINE__SPEED"] = f"{self.engine_speed:g}"
        return env
