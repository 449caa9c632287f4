"""The store interface: what the handlers, hub and engine need from state.

Implementations sit beside this file (memory.py, redis.py). Handlers only see
this Protocol, so swapping the backend touches nothing else.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from diagops.push.lifecycle import Snapshot
from diagops.push.protocol import dumps, parse_timestamp, update_message


class StoreUnavailable(Exception):
    """The backend cannot be reached; callers answer 503 and change nothing."""


@dataclass(frozen=True, slots=True)
class Update:
    """One stored event, encoded once: the same text goes to every subscriber."""

    execution_id: str
    seq: int
    event: str
    encoded: str
    accepted_at: float  # epoch seconds, the moment the service accepted it
    nbytes: int  # UTF-8 size of `encoded`, counted once for every subscriber's send budget
    payload: bytes  # `encoded` as UTF-8, encoded once for every subscriber's socket

    @classmethod
    def build(cls, execution_id: str, seq: int, timestamp: str, event: str, data: dict[str, Any], accepted_at: float) -> Update:
        encoded = dumps(update_message(execution_id, seq, timestamp, event, data))
        payload = encoded.encode()
        return cls(execution_id, seq, event, encoded, accepted_at, len(payload), payload)

    @classmethod
    def decode(cls, encoded: str) -> Update:
        message = json.loads(encoded)
        payload = encoded.encode()
        return cls(
            message["execution_id"], message["seq"], message["event"], encoded,
            parse_timestamp(message["timestamp"]), len(payload), payload,
        )

    def message(self) -> dict[str, Any]:
        return json.loads(self.encoded)

    @property
    def final(self) -> bool:
        return self.event in ("complete", "error")


class Resync:
    """Yielded by `listen()` after the live feed was interrupted (e.g. Redis reconnected):
    updates may have been missed, so the hub re-reads every subscribed execution from the log."""

    __slots__ = ()


RESYNC = Resync()


OnOperation = Callable[[str, float, bool], None]
"""(op, seconds, ok): every store calls its `on_operation` hook, when set, for each
operation, so `diagops_store_operation_seconds{op}` and store errors are measured
the same way whatever the backend."""


@runtime_checkable
class Store(Protocol):
    on_operation: OnOperation | None

    async def start(self) -> None:
        """Connect and start the live feed; raise StoreUnavailable when the backend is down."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Return when the backend answers; raise StoreUnavailable otherwise (feeds /readyz)."""

    async def publish(
        self, execution_id: str, event: str, data: dict[str, Any], *, owner: str | None = None, lang: str | None = None,
        idempotency_key: str | None = None,
    ) -> Update:
        """Validate with `lifecycle.advance`, then atomically assign the next seq, store the
        event and the new snapshot, and broadcast it to every process's `listen()`.
        Raises lifecycle.PublishRefused (nothing stored), lifecycle.AlreadyStored (a retry of a
        stored event: nothing stored again) or StoreUnavailable."""

    async def events_after(self, execution_id: str, after: int) -> list[Update]:
        """Stored events with seq > after, in order."""

    async def snapshot(self, execution_id: str) -> Snapshot | None: ...

    def listen(self) -> AsyncIterator[Update | Resync]:
        """Every update published by any process, in per-execution seq order where the
        backend allows; consumers must tolerate gaps and duplicates (the hub checks seq).
        Yields RESYNC after an interruption of the feed; never ends while the store is open."""

    async def cache_get(self, key: str) -> list[tuple[str, dict[str, Any]]] | None:
        """The (event, data) list of a cached completed diagnosis, if still within TTL."""

    async def cache_put(self, key: str, events: list[tuple[str, dict[str, Any]]], ttl_s: float) -> None: ...
