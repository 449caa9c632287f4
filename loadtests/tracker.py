"""What one client knows about one execution's stream: seq order, replays, the final event.

Kept free of sockets and Locust so the rules that decide "lost", "duplicate"
and "live or replayed" are tested on their own; the socket client feeds it
frames and reports what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from diagops.push.protocol import FINAL_EVENTS, parse_timestamp

_SECOND_CACHE: dict[str, float] = {}
_SECOND_CACHE_MAX = 4096


def event_epoch(timestamp: str) -> float:
    """`push.protocol.parse_timestamp`, memoised per whole second.

    strptime cost ~40 % of a generator's per-update work (profiled at 300
    users); events of one second share their "YYYY-MM-DDTHH:MM:SS" part, so
    that part is parsed once by the wire's own function and the fraction added.
    Anything not shaped like a contract timestamp goes to parse_timestamp as is.
    """
    second, dot, fraction = timestamp.partition(".")
    if not dot or not fraction.endswith("Z") or not fraction[:-1].isdigit():
        return parse_timestamp(timestamp)
    base = _SECOND_CACHE.get(second)
    if base is None:
        base = parse_timestamp(second + ".000Z")
        if len(_SECOND_CACHE) >= _SECOND_CACHE_MAX:
            _SECOND_CACHE.clear()
        _SECOND_CACHE[second] = base
    return base + int(fraction[:-1]) / 10 ** (len(fraction) - 1)


@dataclass(frozen=True)
class Delivery:
    """One `diagnosis_update` as the load test classifies it.

    `kind` is the event name for a live push, or "replay" for an event the
    server had stored before this subscription started (its latency includes
    the time before we subscribed, so it must not count as push latency).
    `problem` is a failure reason (gap, duplicate, event after the final one).
    """

    kind: str
    event: str
    seq: int
    latency_s: float
    final: bool
    problem: str | None = None
    reason: str | None = None  # a stable short key for `problem`, to count failures by
    lost: int = 0


class StreamTracker:
    """Seq bookkeeping for one execution, across reconnects of the same client."""

    def __init__(self, execution_id: str, started_at: float, *, cached: bool = False) -> None:
        self.execution_id = execution_id
        self.started_at = started_at
        self.cached = cached
        self.last_seq = 0
        self.replay_until = 0
        self.final_event: str | None = None
        self.final_at: float | None = None
        self.gaps = 0
        self.lost = 0
        self.duplicates = 0
        self.error_type: str | None = None
        # Which connection generation this execution is subscribed on (see locust.client).
        self.generation = -1

    @property
    def done(self) -> bool:
        return self.final_event is not None

    @property
    def intact(self) -> bool:
        """No gap and no duplicate: the stream the user saw is the stream the server stored."""
        return self.gaps == 0 and self.duplicates == 0

    def on_subscribed(self, seq: int) -> None:
        """The server's `subscribed` frame: events up to `seq` are replays from its store."""
        if seq > self.replay_until:
            self.replay_until = seq

    def on_update(self, seq: int, event: str, event_epoch: float, received_epoch: float) -> Delivery:
        """Classify one update and advance the stream; the caller reports the result."""
        latency = received_epoch - event_epoch
        if seq <= self.last_seq:
            self.duplicates += 1
            return Delivery(
                "duplicate", event, seq, latency, False,
                problem=f"duplicate seq {seq} (already had {self.last_seq})", reason="duplicate",
            )
        problem = reason = None
        lost = 0
        if self.final_event is not None:
            problem, reason = f"event seq {seq} after the final '{self.final_event}'", "event after final"
        elif seq != self.last_seq + 1:
            lost = seq - self.last_seq - 1
            self.gaps += 1
            self.lost += lost
            problem, reason = f"seq gap: expected {self.last_seq + 1}, got {seq} ({lost} lost)", "seq gap"
        self.last_seq = seq
        final = event in FINAL_EVENTS and self.final_event is None
        if final:
            self.final_event = event
            self.final_at = received_epoch
        kind = "replay" if seq <= self.replay_until else event
        return Delivery(kind, event, seq, latency, final, problem=problem, reason=reason, lost=lost)
