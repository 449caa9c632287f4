"""The gate's side of the wire: strict parsing, bounded waits, and a subscriber that records.

Everything a target sends is hostile until parsed: frames are strict JSON objects (no NaN, no
Infinity), and every read has a deadline, so a broken target fails a check instead of hanging it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from diagops.push.protocol import FINAL_EVENTS, parse_timestamp


class WireError(Exception):
    """The target sent something the contract does not allow, or nothing in time."""


def strict_loads(text: str | bytes) -> Any:
    """The service's own strict reader (RFC 8259, bounded depth): the gate holds a target to it."""
    from diagops.push.strict_json import InvalidJson, parse

    try:
        return parse(text)
    except InvalidJson as exc:
        raise WireError(f"not strict JSON: {exc}") from None


def frame_object(text: str | bytes) -> dict[str, Any]:
    value = strict_loads(text)
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise WireError(f"a frame that is not a JSON object with a type: {str(text)[:120]}")
    return value


@dataclass
class Stream:
    """What one subscriber saw of one execution, in arrival order."""

    execution_id: str
    subscribed: dict[str, Any] | None = None
    updates: list[dict[str, Any]] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)  # live updates: receive time - timestamp
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def final(self) -> dict[str, Any] | None:
        return self.updates[-1] if self.updates and self.updates[-1].get("event") in FINAL_EVENTS else None

    @property
    def seqs(self) -> list[int]:
        return [u.get("seq") for u in self.updates]  # type: ignore[misc]

    @property
    def last_seq(self) -> int:
        return self.updates[-1]["seq"] if self.updates else 0


def stream_problems(stream: Stream, first_seq: int = 1) -> list[str]:
    """Contract breaches in a stream: seq not first_seq..N by 1, progress going down, no final."""
    problems: list[str] = []
    expected = first_seq
    last_progress = -1
    for update in stream.updates:
        seq = update.get("seq")
        if seq != expected:
            kind = "duplicate" if isinstance(seq, int) and seq < expected else "gap"
            problems.append(f"{kind}: seq {seq} where {expected} was due")
            expected = seq + 1 if isinstance(seq, int) and seq >= expected else expected
        else:
            expected += 1
        progress = (update.get("data") or {}).get("progress")
        if update.get("event") == "progress" and isinstance(progress, int):
            if progress < last_progress:
                problems.append(f"progress went down from {last_progress} to {progress} at seq {seq}")
            last_progress = progress
    if stream.final is None:
        problems.append(f"no final event (last seq {stream.last_seq})")
    return problems


async def receive(ws: Any, deadline: float) -> dict[str, Any] | None:
    """The next text frame as an object; None when the socket closed. Raises WireError at the deadline."""
    import aiohttp

    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise WireError("no frame before the deadline")
    try:
        msg = await asyncio.wait_for(ws.receive(), timeout=remaining)
    except asyncio.TimeoutError:
        raise WireError("no frame before the deadline") from None
    if msg.type == aiohttp.WSMsgType.TEXT:
        return frame_object(msg.data)
    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.ERROR):
        return None
    raise WireError(f"an unexpected {msg.type.name} frame")


async def follow(ws: Any, streams: dict[str, Stream], deadline: float, *, live_after: dict[str, int] | None = None,
                 stop_after: int | None = None) -> None:
    """Read frames into `streams` until each has its final event (or `stop_after` updates in all).

    An update counts as live (its latency recorded) when its seq is above the `subscribed` frame's
    seq: events stored before the subscription are replays, and their age says nothing of push.
    """
    seen = 0
    while any(s.final is None for s in streams.values()):
        frame = await receive(ws, deadline)
        if frame is None:
            raise WireError("the socket closed before every final event")
        now = time.time()
        stream = streams.get(str(frame.get("execution_id")))
        kind = frame["type"]
        if stream is None:
            continue
        if kind == "subscribed":
            stream.subscribed = frame
        elif kind == "error":
            stream.errors.append(frame)
            raise WireError(f"error frame for {stream.execution_id}: {frame.get('code')}: {frame.get('message')}")
        elif kind == "diagnosis_update":
            stream.updates.append(frame)
            base = (live_after or {}).get(stream.execution_id)
            if base is None and stream.subscribed is not None:
                base = int(stream.subscribed.get("seq") or 0)
            if base is not None and isinstance(frame.get("seq"), int) and frame["seq"] > base:
                try:
                    stream.latencies_s.append(now - parse_timestamp(str(frame.get("timestamp"))))
                except ValueError:
                    pass  # a malformed timestamp is a contract breach the end-to-end check reports
            seen += 1
            if stop_after is not None and seen >= stop_after:
                return


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (no interpolation: a gate reports a value that was observed)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]
