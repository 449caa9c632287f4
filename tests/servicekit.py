"""Start a real push service for tests: in-process (fast) or as a `diagops serve` process.

Tests wait for conditions (readiness, a frame, a metric) with deadlines, never
with fixed sleeps.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diagops.push.auth import mint_token
from diagops.spec import Spec, load_spec
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parent.parent
SECRET = "test-secret-0123456789-abcdefghij"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_spec(**overrides: Any) -> Spec:
    """A spec for tests: fast engine (~0.4 s a diagnosis), everything else default unless overridden.
    Keys are dotted (`engine.speed`)."""
    values: dict[str, Any] = {"engine.speed": 50.0}
    values.update(overrides)
    return load_spec(Path(os.devnull), env={}, overrides=values)


def token(user: str = "alice", scopes: tuple[str, ...] = ("subscribe",), **kw: Any) -> str:
    return mint_token(SECRET, user, scopes, **kw)


def metric_types(exposition: str) -> dict[str, str]:
    """Each metric family of a Prometheus text exposition, by the name a query uses (a counter
    with its `_total`), with its type. Parsed by prometheus_client itself, so a family that is
    declared but has no sample yet (a labelled counter never incremented) still counts."""
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name + ("_total" if f.type == "counter" else ""): f.type
            for f in text_string_to_metric_families(exposition)}


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@dataclass
class ServiceProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def serve_process(tmp_path: Path, *, env: Mapping[str, str] | None = None, args: list[str] | None = None,
                  port: int | None = None, ready_timeout: float = 20.0) -> Iterator[ServiceProcess]:
    """Run `diagops serve` as a real process on a free port until the block ends (SIGTERM)."""
    port = port or free_port()
    log_path = tmp_path / f"serve-{port}.log"
    full_env = {**os.environ, "DIAGOPS_JWT_SECRET": SECRET, "DIAGOPS_ENGINE__SPEED": "50", **(env or {})}
    cmd = [sys.executable, "-m", "diagops", "serve", "--port", str(port), "--config", os.devnull, *(args or [])]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is not None or http_status(url + "/readyz") == 200, ready_timeout,
                 f"diagops serve on {url} to be ready")
        if proc.poll() is not None:
            raise AssertionError(f"diagops serve exited {proc.returncode}:\n{log_path.read_text()}")
        yield ServiceProcess(url, proc, log_path)
    finally:
        if proc.poll() is None:
            proc.terminate()
            stop_process(proc)
