"""`diagops bench latency`'s measurement: how stale a client's view of a diagnosis is.

The same diagnoses are followed at once by a WebSocket subscriber and by clients polling
the fallback endpoint (`…/events?after=N`) at each interval, each poller starting at a
random phase of its interval. For every event, staleness is the time from its
`timestamp` (when the service accepted it) to the moment the client has it. Both ends
read this machine's clock, so against a remote target the figures carry the clocks' skew.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from diagops.bench.histogram import LatencyHistogram
from diagops.bench.target import Target, TargetError
from diagops.push.protocol import FINAL_EVENTS, parse_timestamp, ws_url_for

REQUEST_TIMEOUT_S = 10.0


@dataclass
class Follower:
    """One way of following (the socket, or polling at one interval): what it saw and what it cost."""

    name: str
    interval_s: float | None  # None: the WebSocket
    staleness: LatencyHistogram = field(default_factory=LatencyHistogram)
    requests: int = 0  # HTTP requests (polling) or frames sent (socket)
    events: int = 0
    finished: int = 0  # diagnoses whose final event it saw
    errors: dict[str, int] = field(default_factory=dict)

    def saw(self, event: Any) -> bool:
        """Record one pushed or polled event (network input: checked); True when it is final."""
        if not isinstance(event, dict) or not isinstance(event.get("timestamp"), str):
            self.error("invalid event")
            return False
        try:
            stamped = parse_timestamp(event["timestamp"])
        except ValueError:
            self.error("invalid timestamp")
            return False
        self.staleness.record(max(time.time() - stamped, 0.0))
        self.events += 1
        if event.get("event") in FINAL_EVENTS:
            self.finished += 1
            return True
        return False

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def follow_all(target: Target, diagnoses: int, intervals: list[float], salt: str, deadline_s: float,
                     on_final: Callable[[int], None] | None = None) -> list[Follower]:
    """Start `diagnoses` diagnoses and follow each by socket and by every polling interval."""
    import aiohttp

    headers = {"Authorization": f"Bearer {target.token()}"}
    followers = [Follower("websocket", None)] + [Follower(f"poll {i:g} s", i) for i in intervals]
    finals = 0

    def final() -> None:
        nonlocal finals
        finals += 1
        if on_final is not None:
            on_final(finals)

    async with aiohttp.ClientSession(headers=headers) as session:
        ids = [await _start(session, target, {"brand": f"latency {n} {salt}", "platforms": ["deepseek"]})
               for n in range(diagnoses)]
        stop_at = time.monotonic() + deadline_s
        jobs = [_subscribe(session, target, ids, followers[0], stop_at, final)]
        jobs += [_poll(session, target, eid, f, stop_at, final) for f in followers[1:] for eid in ids]
        await asyncio.gather(*jobs)
    return followers


async def _start(session: Any, target: Target, body: dict[str, Any]) -> str:
    import aiohttp

    from diagops.push.strict_json import InvalidJson, parse

    try:
        async with session.post(f"{target.url}/api/v1/diagnoses", json=body,
                                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as resp:
            raw = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise TargetError(f"cannot start a diagnosis on {target.url}: {exc or type(exc).__name__}") from None
    try:
        answer = parse(raw)
    except InvalidJson:
        answer = None
    execution_id = answer.get("execution_id") if isinstance(answer, dict) else None
    if status != 202 or not isinstance(execution_id, str):
        raise TargetError(f"{target.url} refused a diagnosis (HTTP {status})")
    return execution_id


async def _subscribe(session: Any, target: Target, ids: list[str], follower: Follower, stop_at: float,
                     final: Callable[[], None]) -> None:
    """One socket subscribed to every diagnosis, as the mini program's page is."""
    import aiohttp

    from diagops.push.strict_json import InvalidJson, parse

    remaining = set(ids)
    try:
        async with session.ws_connect(ws_url_for(target.url), heartbeat=None) as ws:
            for eid in ids:
                await ws.send_str(f'{{"type": "subscribe", "execution_id": "{eid}", "last_seq": 0}}')
                follower.requests += 1
            while remaining and time.monotonic() < stop_at:
                try:
                    msg = await ws.receive(timeout=max(stop_at - time.monotonic(), 0.01))
                except TimeoutError:
                    break
                if msg.type != aiohttp.WSMsgType.TEXT:
                    follower.error("socket closed")
                    return
                try:
                    frame = parse(msg.data)
                except InvalidJson:
                    follower.error("invalid frame")
                    continue
                if isinstance(frame, dict) and frame.get("type") == "diagnosis_update":
                    if follower.saw(frame):
                        remaining.discard(frame.get("execution_id"))
                        final()
    except (aiohttp.ClientError, OSError) as exc:
        follower.error(f"socket: {type(exc).__name__}")


async def _poll(session: Any, target: Target, eid: str, follower: Follower, stop_at: float,
                final: Callable[[], None]) -> None:
    """Poll one diagnosis's events every `interval_s` from a random phase until its final event."""
    import aiohttp

    from diagops.push.strict_json import InvalidJson, parse

    interval = follower.interval_s
    assert interval is not None
    after = 0
    next_at = time.monotonic() + random.uniform(0, interval)
    while True:
        await asyncio.sleep(max(next_at - time.monotonic(), 0.0))
        next_at += interval  # a fixed schedule: a slow answer does not stretch the interval
        if time.monotonic() >= stop_at:
            return
        follower.requests += 1
        try:
            async with session.get(f"{target.url}/api/v1/executions/{eid}/events", params={"after": str(after)},
                                   timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as resp:
                raw, status = await resp.read(), resp.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            follower.error(f"poll: {type(exc).__name__}")
            raw, status = b"", 0
        events: Any = None
        if status == 200:
            try:
                events = parse(raw)
            except InvalidJson:
                follower.error("invalid poll answer")
        elif status:
            follower.error(f"HTTP {status}")
        for event in events if isinstance(events, list) else []:
            seq = event.get("seq") if isinstance(event, dict) else None
            if not isinstance(seq, int) or seq <= after:
                follower.error("invalid event")
                continue
            after = seq
            if follower.saw(event):
                final()
                return
