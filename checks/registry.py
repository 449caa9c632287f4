"""The one table of checks: `@check(...)` registers a function; `select` resolves what to run.

Selections are categories or check ids, comma-separated; an unknown word is a usage error that
lists what exists, never an empty run that passes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diagops.checks.model import CATEGORIES, CheckInfo, Outcome

if TYPE_CHECKING:
    from diagops.checks.context import GateContext

CheckFn = Callable[["GateContext"], Awaitable[Outcome]]


@dataclass(frozen=True)
class Registered:
    info: CheckInfo
    run: CheckFn


REGISTRY: dict[str, Registered] = {}


class SelectionError(ValueError):
    """A --select word that names no category and no check."""


def check(**info: Any) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated coroutine function under `info["id"]` (ids are unique)."""

    def register(fn: CheckFn) -> CheckFn:
        meta = CheckInfo(**info)
        if meta.id in REGISTRY:
            raise RuntimeError(f"check {meta.id} registered twice")
        REGISTRY[meta.id] = Registered(meta, fn)
        return fn

    return register


def all_checks() -> list[Registered]:
    """Every check, in the order the report lists them (category, then registration)."""
    _load()
    return sorted(REGISTRY.values(), key=lambda r: CATEGORIES.index(r.info.category))


def select(words: str | None) -> tuple[list[Registered], list[Registered]]:
    """(selected, deselected) for a comma-separated list of categories and ids; None selects all."""
    checks = all_checks()
    if not words:
        return checks, []
    wanted = [w.strip() for w in words.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in CATEGORIES and w not in REGISTRY]
    if unknown or not wanted:
        raise SelectionError(
            f"--select: unknown {', '.join(unknown) or '(empty)'}; "
            f"categories: {', '.join(CATEGORIES)}; checks: {', '.join(r.info.id for r in checks)}"
        )
    chosen = [r for r in checks if r.info.id in wanted or r.info.category in wanted]
    return chosen, [r for r in checks if r not in chosen]


def _load() -> None:
    """Import the check modules (each registers its checks when imported)."""
    from diagops.checks import functional, monitoring, performance, quality  # noqa: F401
