"""Start the servers a benchmark loads, as ordinary processes on 127.0.0.1 free ports."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from benchmarks.redis_server import local_redis
from diagops.bench.wsload import Target
from diagops.bench.wsload.target import BENCH_ENV
from diagops.procs.service import running_service


@contextmanager
def diagops_server(log_dir: Path, *, args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                   secret: str | None = None, name: str = "diagops", ready_timeout: float = 30.0,
                   code: Path | None = None, publish: str = "http", store: str = "memory") -> Iterator[Target]:
    """`diagops serve` (memory store unless `args` say otherwise) until the block ends (SIGTERM).
    Its stdout/stderr go to a log file in `log_dir` (the access log writes a line per publish).
    `code`: a folder whose `diagops/` holds another checkout's code (`variants.link_checkout`);
    the service then runs from it, with it first on PYTHONPATH, so that code is what it imports.
    `store="redis"`: a fresh redis-server for this service (benchmarks/redis_server.py), its pid in
    the target's `store_pids`."""
    secret = secret or secrets.token_urlsafe(32)
    extra = {**BENCH_ENV, "DIAGOPS_JWT_SECRET": secret, **(env or {})}
    if code is not None:
        extra["PYTHONPATH"] = os.pathsep.join(p for p in (str(code), os.environ.get("PYTHONPATH")) if p)
    with ExitStack() as stack:
        store_pids: tuple[int, ...] = ()
        if store == "redis":
            redis = stack.enter_context(local_redis())
            args, store_pids = [*args, "--redis-url", redis.url], (redis.pid,)
        elif store != "memory":
            raise ValueError(f"unknown store {store!r} (memory or redis)")
        service = stack.enter_context(running_service(
            lambda port: log_dir / f"{name}-{port}.log", config=os.devnull, args=args, env=extra, cwd=code,
            ready_timeout_s=ready_timeout, name=name))
        yield Target(name, "diagops", "127.0.0.1", service.port, (service.pid,), secret=secret, publish=publish,
                     store_pids=store_pids)
