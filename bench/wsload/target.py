"""The server a benchmark loads, and the tokens a diagops server wants from its clients."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A server under load. `pids`: processes measured (with their children)."""

    name: str
    kind: str  # "diagops" | "nchan"
    host: str
    port: int
    pids: tuple[int, ...]
    secret: str | None = None
    owner: str = "bench"  # diagops: the user that owns the executions and subscribes
    # diagops: how events are published. "http": one POST per event; "batch": the events due
    # within one publisher tick in one POST /api/v1/events; "ws": publish frames on one socket.
    publish: str = "http"
    # Processes serving the server's store (a redis-server), measured apart from `pids`.
    store_pids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("diagops", "nchan"):
            raise ValueError(f"unknown target kind {self.kind!r}")
        if self.kind == "diagops" and not self.secret:
            raise ValueError("a diagops target needs the service's JWT secret")
        if self.publish not in PUBLISH_MODES or (self.kind == "nchan" and self.publish != "http"):
            raise ValueError(f"publish mode {self.publish!r} is not one of {PUBLISH_MODES} (Nchan: http only)")


PUBLISH_MODES = ("http", "batch", "ws")

# What a diagops service under a fan-out run is started with: the run measures fan-out, not
# admission control. One client address opens thousands of sockets in seconds, and a run
# publishes more events per execution than a real diagnosis has; everything else stays at
# the service's defaults. `diagops bench push` and benchmarks/servers.py both use it.
BENCH_ENV = {
    "DIAGOPS_LIMITS__CONNECTION_RATE": "1000000",
    "DIAGOPS_LIMITS__CONNECTION_BURST": "1000000",
    "DIAGOPS_LIMITS__MAX_CONNECTIONS": "100000",
    "DIAGOPS_STORE__MAX_EVENTS_PER_EXECUTION": "1000000",
}


def tokens_for(target: Target) -> tuple[str | None, str | None]:
    if target.kind != "diagops":
        return None, None
    from diagops.push.auth import mint_token

    assert target.secret is not None
    return (mint_token(target.secret, target.owner, ("subscribe",), ttl_s=6 * 3600),
            mint_token(target.secret, "bench-engine", ("publish",), ttl_s=6 * 3600))
