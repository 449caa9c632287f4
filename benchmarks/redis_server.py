"""A throwaway redis-server for benchmarks, so they never touch a Redis someone else uses.

Configured as diagops recommends for production: append-only file, fsync every second.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from diagops.procs.redis_server import REDIS_SERVER, RedisServer


@dataclass(frozen=True)
class LocalRedis:
    url: str
    pid: int  # so a benchmark can count Redis's CPU with the service's


@contextmanager
def local_redis(binary: str = REDIS_SERVER) -> Iterator[LocalRedis]:
    """A fresh redis-server on a free port until the block ends; then stopped and removed."""
    workdir = Path(tempfile.mkdtemp(prefix="diagops-bench-redis-"))
    server = RedisServer(workdir, appendfsync="everysec", binary=shutil.which(binary) or binary)
    try:
        server.start()
        yield LocalRedis(server.url, server.pid)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
