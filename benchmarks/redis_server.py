"""A throwaway redis-server for benchmarks, so they never touch a Redis someone else uses.

Configured as diagops recommends for production: append-only file, fsync every second.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.servicekit import free_port


@dataclass(frozen=True)
class LocalRedis:
    url: str
    pid: int  # so a benchmark can count Redis's CPU with the service's


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def local_redis(binary: str = "redis-server") -> Iterator[LocalRedis]:
    """A fresh redis-server on a free port until the block ends; then stopped and removed."""
    path = shutil.which(binary) or "/usr/bin/redis-server"
    workdir = tempfile.mkdtemp(prefix="diagops-bench-redis-")
    port = free_port()
    process = subprocess.Popen(
        [path, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--appendonly", "yes",
         "--appendfsync", "everysec", "--save", "", "--daemonize", "no", "--logfile", f"{workdir}/redis.log"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start; see {workdir}/redis.log")
            time.sleep(0.01)
        yield LocalRedis(f"redis://127.0.0.1:{port}/0", process.pid)
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
