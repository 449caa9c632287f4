"""`diagops bench latency`: the socket's staleness beside polling's, and the factor between them.

The plan's old baseline was polling every 2, 5 or 30 s; `scale` shrinks those intervals
for quick runs (tests use 0.05), and the table says which intervals were used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from diagops.bench.document import Objective
from diagops.bench.latency_run import Follower, follow_all
from diagops.bench.target import Target

BASELINE_INTERVALS_S = (2.0, 5.0, 30.0)


def measure(target: Target, diagnoses: int, intervals: list[float], salt: str, deadline_s: float, threshold_s: float,
            on_final: Callable[[int], None] | None = None) -> tuple[list[dict[str, Any]], float | None]:
    """The rows of every way of following, and the socket's share of updates within `threshold_s`."""
    followers = asyncio.run(follow_all(target, diagnoses, intervals, salt, deadline_s, on_final))
    return modes(followers), followers[0].staleness.share_within(threshold_s)


def _factor(poll: float | None, socket: float | None) -> float | None:
    return poll / socket if poll is not None and socket else None


def modes(followers: list[Follower]) -> list[dict[str, Any]]:
    """One row per way of following; polling rows carry the improvement factor over the socket."""
    socket = followers[0].staleness.summary()
    rows = []
    for f in followers:
        s = f.staleness.summary()
        rows.append({"name": f.name, "transport": "websocket" if f.interval_s is None else "polling",
                     "interval_s": f.interval_s, "staleness": s, "requests": f.requests, "events": f.events,
                     "finished": f.finished, "errors": dict(f.errors),
                     "improvement": None if f.interval_s is None else {
                         "p50": _factor(s["p50_ms"], socket["p50_ms"]), "p95": _factor(s["p95_ms"], socket["p95_ms"])}})
    return rows


def judge(rows: list[dict[str, Any]], followers_share: float | None, threshold_s: float, target: float,
          diagnoses: int) -> tuple[list[Objective], list[str]]:
    """The delivery objective on the socket's staleness, and what makes the run unsound."""
    objectives = [Objective(f"socket updates within {threshold_s:g} s", followers_share, target, at_least=True)]
    problems = []
    for row in rows:
        if row["finished"] < diagnoses:
            problems.append(f"{row['name']} saw {row['finished']} of {diagnoses} diagnoses finish before the deadline")
        if row["errors"]:
            problems.append(f"{row['name']}: " + ", ".join(f"{k} ×{v}" for k, v in sorted(row["errors"].items())))
    return objectives, problems
