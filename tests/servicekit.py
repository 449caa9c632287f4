"""Start a real push service for tests: in-process (fast) or as a `diagops serve` process.

Tests wait for conditions (readiness, a frame, a metric) with deadlines, never
with fixed sleeps.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from diagops.procs.service import ServiceProcess, running_service
from diagops.push.auth import mint_token
from diagops.spec import Spec, load_spec

REPO = Path(__file__).resolve().parent.parent
SECRET = "test-secret-0123456789-abcdefghij"
SERVE_ENV = {"DIAGOPS_JWT_SECRET": SECRET, "DIAGOPS_ENGINE__SPEED": "50"}


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


@contextmanager
def serve_process(tmp_path: Path, *, env: Mapping[str, str] | None = None, args: list[str] | None = None,
                  port: int | None = None, ready_timeout: float = 20.0) -> Iterator[ServiceProcess]:
    """Run `diagops serve` as a real process on a free port until the block ends (SIGTERM)."""
    with running_service(lambda chosen: tmp_path / f"serve-{chosen}.log", port=port, config=os.devnull,
                         args=args or [], env={**SERVE_ENV, **(env or {})}, cwd=REPO,
                         ready_timeout_s=ready_timeout) as service:
        yield service
