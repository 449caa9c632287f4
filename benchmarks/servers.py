"""Start the servers a benchmark loads, as ordinary processes on 127.0.0.1 free ports."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from benchmarks.wsload import Target
from tests.servicekit import free_port, http_status, stop_process  # noqa: F401 - nchan.py imports them from here

REPO = Path(__file__).resolve().parent.parent

# The benchmark measures fan-out, not admission control: one client address opens
# thousands of sockets in seconds, and a run publishes more events per execution
# than a real diagnosis has. Everything else stays at the service's defaults.
BENCH_ENV = {
    "DIAGOPS_LIMITS__CONNECTION_RATE": "1000000",
    "DIAGOPS_LIMITS__CONNECTION_BURST": "1000000",
    "DIAGOPS_LIMITS__MAX_CONNECTIONS": "100000",
    "DIAGOPS_STORE__MAX_EVENTS_PER_EXECUTION": "1000000",
}


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while http_status(url) != 200:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited {proc.returncode} before it was ready:\n{log_path.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server was not ready within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.05)


@contextmanager
def diagops_server(log_dir: Path, *, args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                   secret: str | None = None, name: str = "diagops", repo: Path = REPO,
                   ready_timeout: float = 30.0) -> Iterator[Target]:
    """`diagops serve` (memory store unless `args` say otherwise) until the block ends (SIGTERM).
    Its stdout/stderr go to a log file in `log_dir` (the access log writes a line per publish).
    `repo`: the checkout whose code serves (another work tree, to compare a change side by side);
    it runs with this interpreter, from that directory, so its packages are the ones imported."""
    secret = secret or secrets.token_urlsafe(32)
    port = free_port()
    log_path = log_dir / f"{name}-{port}.log"
    full_env = {**os.environ, **BENCH_ENV, "DIAGOPS_JWT_SECRET": secret, **(env or {})}
    cmd = [sys.executable, "-m", "diagops", "serve", "--host", "127.0.0.1", "--port", str(port), "--config", os.devnull, *args]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=repo)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc, ready_timeout, log_path)
        yield Target(name, "diagops", "127.0.0.1", port, (proc.pid,), secret=secret)
    finally:
        stop_process(proc)
