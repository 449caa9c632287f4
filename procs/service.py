"""`diagops serve` as a child process on a loopback port, ready once `/readyz` answers 200.

The load test's embedded service, the tests' service processes and the
benchmarks' servers all start it here; each caller adds only its own
environment, arguments and log place.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diagops.procs.executor import READY_TIMEOUT_S, EarlyExit, Executor
from diagops.procs.ports import free_port
from diagops.procs.readiness import HttpStatus
from diagops.push.protocol import ws_url_for

READY_PATH = "/readyz"
START_ATTEMPTS = 3  # a freshly chosen free port can be taken before the service binds it

LogPlace = Path | Callable[[int], Path]  # a path, or one made from the port (several services in one folder)


@dataclass
class ServiceProcess:
    """A running `diagops serve`."""

    executor: Executor
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return ws_url_for(self.url)

    @property
    def pid(self) -> int:
        return self.executor.pid

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The child itself, for a test that signals or waits on it directly."""
        assert self.executor.process is not None
        return self.executor.process

    @property
    def log_path(self) -> Path:
        return self.executor.log

    def log(self) -> str:
        return self.executor.log_text()

    def stop(self, grace_s: float | None = None) -> int | None:
        return self.executor.stop(grace_s)


def serve_argv(port: int, *, host: str = "127.0.0.1", config: str | os.PathLike[str] | None = None,
               args: Sequence[str] = ()) -> list[str]:
    """This interpreter's `python -m diagops serve`: the checkout (or PYTHONPATH) it runs decides the code."""
    argv = [sys.executable, "-m", "diagops", "serve", "--host", host, "--port", str(port)]
    if config is not None:
        argv += ["--config", str(config)]
    return argv + list(args)


def start_service(
    log: LogPlace,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    config: str | os.PathLike[str] | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    new_session: bool = False,
    ready_timeout_s: float = READY_TIMEOUT_S,
    name: str = "diagops serve",
) -> ServiceProcess:
    """Start `diagops serve` and return once it is ready. `env` is added to this process's
    environment. Without `port` a free one is chosen, and chosen again (up to START_ATTEMPTS
    times) when the service exits before it is ready, as it does when another process took the
    port first. Raises the executor's StartError otherwise."""
    attempts = 1 if port is not None else START_ATTEMPTS
    full_env = {**os.environ, **(env or {})}
    attempt = 1
    while True:
        chosen = port or free_port(host)
        url = f"http://{host}:{chosen}"
        executor = Executor(
            serve_argv(chosen, host=host, config=config, args=args),
            log=log(chosen) if callable(log) else log, ready=HttpStatus(url + READY_PATH), env=full_env, cwd=cwd,
            name=name, new_session=new_session, ready_timeout_s=ready_timeout_s,
        )
        try:
            executor.start()
        except EarlyExit:
            if attempt >= attempts:
                raise
            attempt += 1
            continue
        return ServiceProcess(executor, host, chosen)


@contextmanager
def running_service(log: LogPlace, **options: Any) -> Iterator[ServiceProcess]:
    """`start_service(log, **options)` for the length of a `with` block, stopped at its end."""
    service = start_service(log, **options)
    try:
        yield service
    finally:
        service.stop()
