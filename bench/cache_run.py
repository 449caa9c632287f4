"""`diagops bench cache`'s measurement: replay a request stream against the service.

Open model (`rate`): request i is due at start + i / rate and its latency counts from
then, not from when it was sent, so a stall shows in the percentiles instead of being
hidden by coordinated omission (as wrk2 does). Closed model (`concurrency`): that many
clients send back to back, latency from the send. The client's count of `cached: true`
answers and the service's own cache counters are both taken; `agree` says whether they
match, and a run whose counts disagree is not a measurement.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from diagops.bench.histogram import LatencyHistogram
from diagops.bench.keys import request_body
from diagops.bench.target import Target, TargetError, cache_counters

REQUEST_TIMEOUT_S = 10.0
MAX_IN_FLIGHT = 256  # open model: beyond this many unanswered requests the client, not the service, is the limit


@dataclass(frozen=True)
class Drive:
    trace: Sequence[Hashable]
    salt: str
    rate: float | None = None  # requests per second (open model) ...
    concurrency: int | None = None  # ... or this many back-to-back clients
    duration_s: float | None = None  # stop sending after this long (else: the whole trace)


@dataclass
class CacheSamples:
    sent: list[Hashable] = field(default_factory=list)  # the keys answered 202, in due order
    due: list[float] = field(default_factory=list)  # their due times, seconds from the start
    cached: list[bool] = field(default_factory=list)
    hit_latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    miss_latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    errors: dict[str, int] = field(default_factory=dict)
    server_hits: float = 0.0
    server_misses: float = 0.0
    elapsed_s: float = 0.0
    late_sends: int = 0  # open model: requests sent more than 10 ms after they were due

    @property
    def client_hits(self) -> int:
        return sum(self.cached)

    @property
    def agree(self) -> bool:
        return self.client_hits == round(self.server_hits) and len(self.cached) == round(self.server_hits + self.server_misses)


async def drive(target: Target, plan: Drive, on_answer: Callable[[int], None] | None = None) -> CacheSamples:
    """Send the stream, collect what came back; raises TargetError when the service is unreachable."""
    import aiohttp

    samples = CacheSamples()
    results: list[tuple[int, float, bool | None, str | None]] = []
    headers = {"Authorization": f"Bearer {target.token()}"}
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        hits0, misses0 = await cache_counters(session, target)
        started = time.perf_counter()

        async def one(i: int, due: float) -> None:
            outcome, error = await _request(session, target, request_body(plan.trace[i], plan.salt))
            results.append((i, time.perf_counter() - started - due, outcome, error))
            if on_answer is not None:
                on_answer(len(results))

        if plan.rate is not None:
            await _open_model(plan, started, one, samples)
        else:
            await _closed_model(plan, started, one)
        samples.elapsed_s = time.perf_counter() - started
        hits1, misses1 = await cache_counters(session, target)
    samples.server_hits, samples.server_misses = hits1 - hits0, misses1 - misses0
    unreachable = [r for r in results if r[3] == "unreachable"]
    if results and len(unreachable) == len(results):
        raise TargetError(f"{target.url}: no request was answered")
    for i, latency, outcome, error in sorted(results):
        if error is not None:
            samples.errors[error] = samples.errors.get(error, 0) + 1
            continue
        samples.sent.append(plan.trace[i])
        samples.due.append(_due(plan, i))
        samples.cached.append(bool(outcome))
        (samples.hit_latency if outcome else samples.miss_latency).record(latency)
    return samples


def _due(plan: Drive, i: int) -> float:
    return i / plan.rate if plan.rate is not None else 0.0


async def _open_model(plan: Drive, started: float, one: Callable[[int, float], Any], samples: CacheSamples) -> None:
    tasks = []
    for i in range(len(plan.trace)):
        due = i / plan.rate  # type: ignore[operator]
        if plan.duration_s is not None and due >= plan.duration_s:
            break
        wait = started + due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -0.01:
            samples.late_sends += 1
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)


async def _closed_model(plan: Drive, started: float, one: Callable[[int, float], Any]) -> None:
    next_index = 0

    async def client() -> None:
        nonlocal next_index
        while next_index < len(plan.trace):
            if plan.duration_s is not None and time.perf_counter() - started >= plan.duration_s:
                return
            i, next_index = next_index, next_index + 1
            await one(i, time.perf_counter() - started)

    await asyncio.gather(*(client() for _ in range(plan.concurrency or 1)))


async def _request(session: Any, target: Target, body: dict[str, Any]) -> tuple[bool | None, str | None]:
    """(cached, None) for an accepted diagnosis, (None, what went wrong) otherwise. The answer is
    network input: parsed strictly and its `cached` field type-checked."""
    import aiohttp

    from diagops.push.strict_json import InvalidJson, parse

    try:
        async with session.post(f"{target.url}/api/v1/diagnoses", json=body,
                                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as resp:
            raw = await resp.read()
            if resp.status != 202:
                return None, f"HTTP {resp.status}"
    except (aiohttp.ClientConnectionError, OSError):
        return None, "unreachable"
    except TimeoutError:
        return None, "timeout"
    try:
        answer = parse(raw)
    except InvalidJson:
        return None, "invalid answer"
    cached = answer.get("cached") if isinstance(answer, dict) else None
    if not isinstance(cached, bool):
        return None, "invalid answer"
    return cached, None
