"""The store interface: what the handlers, hub and engine need from state.

Implementations sit beside this file (memory.py, redis.py). Handlers only see
`Store`, the core every store implements, so swapping the backend touches
nothing else; what only some stores can do is a small protocol of its own
(`Pingable`), decided once at start-up rather than stubbed or checked per call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from diagops.push.lifecycle import AlreadyStored, PublishRefused, Snapshot
from diagops.push.protocol import dumps, parse_timestamp, update_message

if TYPE_CHECKING:
    from diagops.spec import Spec

log = logging.getLogger("diagops.store")


class StoreUnavailable(Exception):
    """The backend cannot be reached; callers answer 503 and change nothing."""


class StoreFull(Exception):
    """A new execution refused because the store is at its memory budget and holds only
    streams that must not break; callers answer 503 `store_full` and nothing was stored."""


@dataclass(frozen=True, slots=True)
class StoreUsage:
    bytes: int  # counted as the store's budget counts them
    executions: int
    max_bytes: int


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
    # The stream's epoch (Snapshot.epoch) when it was stored: the hub compares it with what a
    # subscriber was given, so seq 1 of a re-created stream is a reset, not a duplicate.
    # Not in `encoded` (the pushed frame); "" when unknown (stored before epochs existed).
    epoch: str = ""

    @classmethod
    def build(cls, execution_id: str, seq: int, timestamp: str, event: str, data: dict[str, Any], accepted_at: float,
              epoch: str = "") -> Update:
        encoded = dumps(update_message(execution_id, seq, timestamp, event, data))
        payload = encoded.encode()
        return cls(execution_id, seq, event, encoded, accepted_at, len(payload), payload, epoch)

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


@dataclass(frozen=True, slots=True)
class PublishItem:
    """One event as a publisher sent it, its envelope checked (publishing.parse_item); `advance`
    judges the rest. What `Store.publish_many` takes, one per event."""

    execution_id: str
    event: Any
    data: Any
    owner: str | None = None
    lang: str | None = None
    idempotency_key: str | None = None


Outcome = Update | PublishRefused | AlreadyStored | StoreUnavailable
"""One item's answer from `Store.publish_many`: the stored update, or the exception `publish`
would have raised for it alone (returned, not raised, so one item cannot spoil a batch)."""


class Resync:
    """Yielded by `listen()` after the live feed was interrupted (e.g. Redis reconnected):
    updates may have been missed, so the hub re-reads every subscribed execution from the log."""

    __slots__ = ()


RESYNC = Resync()


OnOperation = Callable[[str, float, bool], None]
"""(op, seconds, ok): given to a store's constructor, called for each operation it performs,
so `diagops_store_operation_seconds{op}` and store errors are measured the same way whatever
the backend. `ok` is False only when the backend failed (a refused event is an answer)."""


async def publish_each(store: Store, items: Sequence[PublishItem]) -> list[Outcome]:
    """Each item through `store.publish`, in order, its refusal or failure as its outcome: what
    `publish_many` must answer, for a store with no round trip to save (memory) and as the
    reference a batching store is tested against."""
    outcomes: list[Outcome] = []
    for item in items:
        try:
            outcomes.append(await store.publish(item.execution_id, item.event, item.data, owner=item.owner,
                                                lang=item.lang, idempotency_key=item.idempotency_key))
        except (PublishRefused, AlreadyStored, StoreUnavailable) as exc:
            outcomes.append(exc)
    return outcomes


def guarded(on_operation: OnOperation | None) -> OnOperation:
    """The observer as a store calls it: never absent, and never able to fail the operation
    it observes (a metrics bug must not refuse a publish)."""
    if on_operation is None:
        return _ignore
    observer = on_operation

    def observe(op: str, seconds: float, ok: bool) -> None:
        try:
            observer(op, seconds, ok)
        except Exception:
            log.exception("store operation observer failed")

    return observe


def _ignore(op: str, seconds: float, ok: bool) -> None:
    return None


def common_settings(spec: Spec) -> dict[str, Any]:
    """The config fields every store's `from_spec` takes from `store:` and `cache:`, named as
    both config classes name them."""
    return {
        "retention_s": spec.store.retention_s,
        "abandoned_after_s": spec.store.abandoned_after_s,
        "max_events_per_execution": spec.store.max_events_per_execution,
        "cache_max_entries": spec.cache.max_entries,
        "cache_policy": spec.cache.policy,
    }


class Store(Protocol):
    """What every store implements. Built by `from_spec(spec, *, on_operation=...)`, which
    does not connect; `start()` does. Every method but `listen()` reports to `on_operation`."""

    async def start(self) -> None:
        """Connect and start the live feed; raise StoreUnavailable when the backend is down
        (after releasing whatever it had opened)."""

    async def close(self) -> None:
        """Stop background work and release the backend. Safe to call twice, and after a
        `start()` that failed or never ran. Stored data is untouched (Redis keeps it; memory's
        is gone with the process). Cancel `listen()` consumers first: their iterators get
        nothing more after close."""

    async def publish(
        self, execution_id: str, event: str, data: dict[str, Any], *, owner: str | None = None, lang: str | None = None,
        idempotency_key: str | None = None,
    ) -> Update:
        """Validate with `lifecycle.advance`, then atomically assign the next seq, store the
        event and the new snapshot, and broadcast it to every process's `listen()`.
        Raises lifecycle.PublishRefused (nothing stored), lifecycle.AlreadyStored (a retry of a
        stored event: nothing stored again) or StoreUnavailable."""

    async def publish_many(self, items: Sequence[PublishItem]) -> list[Outcome]:
        """`publish` for each item, in order, with the same answers as posting each alone (a
        refusal, a duplicate by idempotency key or StoreUnavailable is that item's outcome and
        leaves the others as they would have been); the events of one execution keep their order.
        Why a method of its own: a backend across a network stores the whole batch in one round
        trip (Redis), where a loop of `publish` pays one per event."""

    async def events_after(self, execution_id: str, after: int) -> list[Update]:
        """Stored events with seq > after, in order."""

    async def snapshot(self, execution_id: str) -> Snapshot | None:
        """The execution's state after its latest stored event, or None when unknown (never
        created, or expired). It may be shared with the store: read it, never change it."""

    def listen(self) -> AsyncIterator[Update | Resync]:
        """Every update published by any process, in per-execution seq order where the
        backend allows; consumers must tolerate gaps and duplicates (the hub checks seq).
        Yields RESYNC after an interruption of the feed; never ends while the store is open."""

    async def cache_get(self, key: str) -> list[tuple[str, dict[str, Any]]] | None:
        """The (event, data) list of a cached completed diagnosis, if still within TTL. Every
        call is a request the policy counts (W-TinyLFU's frequency sketch), hit or miss."""

    async def cache_put(self, key: str, events: list[tuple[str, dict[str, Any]]], ttl_s: float) -> None:
        """Offer a completed diagnosis's events for `ttl_s` seconds. A cache, not a log: at most
        `cache.max_entries` are held and an entry may go before its TTL, as `cache.policy` decides
        (push/store/cache_policy.py). `tinylfu`: the offer enters a small window, and the window's
        oldest entry then enters the main region only if it was requested more often than main's
        victim (else it is dropped: an offer may be refused). `lru`: the least recently used goes.
        A TTL <= 0 or a capacity of 0 stores nothing. `cache_get` within the TTL answers an equal
        list unless the entry was evicted or refused; both stores make the same choices on the
        same calls."""


DeliveryFloor = Callable[[str], "int | None"]
"""execution id -> the lowest seq every subscriber of it in this process has been sent, or None
when nobody subscribes: what the store may drop without breaking a stream (the hub answers it)."""

OnEviction = Callable[[str, int], None]
"""(reason, count): `finished` (count: the stored events of a finished execution dropped whole),
`idle` (events trimmed from a running one), `refused` (count 1: a new execution turned away)."""


@runtime_checkable
class Budgeted(Protocol):
    """A store that holds its data in this process within a byte budget (memory). Checked once
    when the app is built: the hub tells it what it must keep, and metrics read its usage."""

    def usage(self) -> StoreUsage:
        """Bytes held, executions held, and the budget."""

    def watch(self, delivery_floor: DeliveryFloor, on_eviction: OnEviction) -> None:
        """Set what protects undelivered events and who hears of each eviction."""

    def trimmed(self, execution_id: str) -> int:
        """The highest seq of the execution no longer stored (0: its stream is whole)."""


@runtime_checkable
class Pingable(Protocol):
    """A store whose backend lives outside the process and can stop answering. Checked once,
    when the app is built, to decide what `/readyz` asks; a store without it is ready while
    the process runs."""

    async def ping(self) -> None:
        """Return when the backend answers; raise StoreUnavailable otherwise."""
