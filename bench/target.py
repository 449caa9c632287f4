"""The service a benchmark measures: the embedded one (started here) or a deployed `--target`.

The embedded service is `diagops serve` in its own process on a free loopback port with
a random JWT secret, so the benchmark client and the service never share an interpreter
and the service's counters count only the benchmark's requests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from diagops.push.auth import mint_token


class TargetError(Exception):
    """The target cannot be started or reached; one readable line (exit 3)."""


@dataclass(frozen=True)
class Target:
    url: str
    secret: str
    embedded: bool
    pid: int | None = None  # the embedded service's process, for CPU and memory

    def token(self, sub: str = "bench", scopes: tuple[str, ...] = ("subscribe",)) -> str:
        return mint_token(self.secret, sub, scopes, ttl_s=24 * 3600.0)


@contextlib.contextmanager
def embedded_target(log: Path, settings: Mapping[str, str], config: Path | None = None) -> Iterator[Target]:
    """`diagops serve` with `settings` (DIAGOPS_* variables) for the length of a `with` block."""
    from diagops.loadtests.embedded import ServiceError, check_reachable
    from diagops.procs.executor import StartError
    from diagops.procs.service import running_service
    from diagops.push.auth import random_secret

    secret = random_secret()
    env = {**settings, "DIAGOPS_JWT_SECRET": secret}
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with running_service(log, config=config, env=env, new_session=True) as service:
            try:
                check_reachable(service.url)
            except ServiceError as exc:
                raise TargetError(str(exc)) from None
            yield Target(service.url, secret, embedded=True, pid=service.pid)
    except StartError as exc:
        raise TargetError(f"the embedded service did not become ready: {exc.last_lines() or 'no output'}") from None


def remote_target(url: str, secret: str) -> Target:
    """A deployed service; raises TargetError unless it answers /readyz with 200."""
    from diagops.loadtests.embedded import ServiceError, check_reachable

    try:
        check_reachable(url)
    except ServiceError as exc:
        raise TargetError(str(exc)) from None
    return Target(url.rstrip("/"), secret, embedded=False)


async def cache_counters(session: object, target: Target) -> tuple[float, float]:
    """The service's own (hit, miss) result-cache lookup counts from its /metrics."""
    import aiohttp

    from diagops.checks.metrics_text import parse_exposition

    assert isinstance(session, aiohttp.ClientSession)
    try:
        async with session.get(f"{target.url}/metrics", timeout=aiohttp.ClientTimeout(total=10)) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise TargetError(f"{target.url}/metrics answered {resp.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TargetError(f"cannot read {target.url}/metrics: {exc or type(exc).__name__}") from None
    try:
        exposed = parse_exposition(text)
    except ValueError as exc:
        raise TargetError(f"{target.url}/metrics is not Prometheus text: {exc}") from None
    name = "diagops_cache_requests_total"
    return exposed.value(name, result="hit"), exposed.value(name, result="miss")
