"""The request streams `diagops bench cache` replays: Zipf, uniform, or a recorded trace.

A key is a small integer (a rank: 0 is the most popular request) or, for a trace, the
line itself; `request_body` turns it into the diagnosis request the service sees. Every
generator is seeded, so a sweep replays the same stream at each point and the offline
optimum is computed on exactly the requests that were sent.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections import Counter
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

from diagops.push.strict_json import InvalidJson, parse

DISTRIBUTIONS = ("zipf", "uniform", "trace")


class TraceError(ValueError):
    """A trace file that cannot be replayed; the message names the file and line."""


def zipf_weights(distinct: int, alpha: float) -> list[float]:
    """Cumulative weights rank^-alpha for ranks 1..distinct (the usual generator's table)."""
    return list(itertools.accumulate((rank ** -alpha for rank in range(1, distinct + 1))))


def zipf_trace(count: int, distinct: int, alpha: float, seed: int) -> list[int]:
    """`count` ranks (0-based) drawn from Zipf(alpha) over `distinct` keys: a binary search of
    a uniform draw in the cumulative weights, O(log n) a draw and exact for any alpha >= 0."""
    cumulative = zipf_weights(distinct, alpha)
    total = cumulative[-1]
    rng = random.Random(seed)
    return [min(bisect.bisect_left(cumulative, rng.random() * total), distinct - 1) for _ in range(count)]


def uniform_trace(count: int, distinct: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(distinct) for _ in range(count)]


def read_trace(path: Path) -> list[str]:
    """A recorded trace: one normalised request per line, either a JSON request body or a brand
    name; blank lines and lines starting with # are skipped. Raises TraceError."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"trace {path}: {getattr(exc, 'strerror', None) or exc}") from None
    keys = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("{"):
            try:
                body = parse(text)
            except InvalidJson as exc:
                raise TraceError(f"trace {path} line {number}: {exc}") from None
            if not isinstance(body.get("brand"), str):
                raise TraceError(f"trace {path} line {number}: a JSON request needs a string 'brand'")
        keys.append(text)
    if not keys:
        raise TraceError(f"trace {path}: no requests in it")
    return keys


def request_body(key: Hashable, salt: str) -> dict[str, Any]:
    """The diagnosis request for `key`. `salt` (one per run) makes the run's requests new to the
    service, so every run starts from a cold cache however often it is repeated."""
    if isinstance(key, str) and key.startswith("{"):
        body = dict(parse(key))
        body["brand"] = f"{body['brand']} {salt}"
        return body
    return {"brand": f"bench {key} {salt}", "platforms": ["deepseek"]}


def fit_zipf_exponent(trace: Sequence[Hashable], top: int | None = None) -> float:
    """The exponent a least-squares line through log(frequency) against log(rank) gives: what a
    Zipf(alpha) stream's rank frequencies should return, close to alpha."""
    counts = sorted(Counter(trace).values(), reverse=True)[:top]
    points = [(math.log(rank), math.log(c)) for rank, c in enumerate(counts, 1)]
    if len(points) < 2:
        raise ValueError("a fit needs at least two distinct keys")
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    return -slope
