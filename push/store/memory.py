"""The embedded default store: one process, nothing outside it.

A thin adapter over `_Executions` (plain dicts, tested directly) plus the result
cache of `cache.policy` (push/store/cache_policy.py: W-TinyLFU or LRU) and an
in-process broadcast for `listen()`.

Memory is bounded by `max_bytes`, counted from what is held (each stored
event's text and its UTF-8 bytes, and each snapshot, sized as the frame of the
event that made it). Over budget, the oldest finished executions go first, then
the old events of the running executions idle longest; an event a subscriber in
this process has not been sent is never dropped (the hub says how far each
execution's slowest subscriber got). When nothing more can go, a new execution
is refused (StoreFull) while the running ones keep streaming.

Stored events are kept as plain tuples of str/bytes/int/float (`Kept`), not as `Update`
instances: CPython's cyclic collector stops untracking nothing it cannot prove acyclic, and a
class instance is always tracked, while such a tuple is untracked the first time the collector
sees it. At a full 256 MiB budget the store holds ~500,000 events; as `Update`s every full
(generation 2) collection scanned them all and paused the event loop for 140-170 ms, which is
what pushed the soak's per-10 s delivery p99 to 17-89 ms. As tuples they cost the collector
nothing (same bytes: the budget counts the same two objects), and `after()` rebuilds `Update`s
only for what a catching-up subscriber replays (the live feed gets the `Update` of `append`).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diagops.push.lifecycle import Snapshot, advance
from diagops.push.protocol import utc_timestamp
from diagops.push.store.cache_policy import ResultCache, make_cache
from diagops.push.store.base import (
    Budgeted, DeliveryFloor, OnEviction, OnOperation, Outcome, PublishItem, Store, StoreFull, StoreUsage, Update,
    common_settings, guarded, publish_each,
)
from diagops.push.store.broadcast import Broadcast

if TYPE_CHECKING:
    from diagops.spec import Spec


@dataclass
class MemoryStoreConfig:
    retention_s: float = 24 * 3600.0
    abandoned_after_s: float = 7 * 24 * 3600.0
    max_events_per_execution: int = 1000
    cache_max_entries: int = 10_000
    cache_policy: str = "tinylfu"  # cache_policy.POLICIES
    max_bytes: int = 256 * 1024 * 1024


STUCK_RETRY_S = 0.1  # how soon eviction is tried again after only running streams were left


Kept = tuple[int, str, str, float, bytes, str]
"""One stored event: (seq, event, encoded, accepted_at, payload, epoch), an untracked tuple
(see the module's docstring); `nbytes` and `execution_id` are rebuilt from it and its key."""


def held_bytes(update: Update) -> int:
    """What one stored event holds: its text and its UTF-8 bytes, as Python sizes them."""
    return _size(update.encoded, update.payload)


def _kept_bytes(kept: Kept) -> int:
    """held_bytes of a stored event, from its tuple."""
    return _size(kept[2], kept[4])


def _size(encoded: str, payload: bytes) -> int:
    return sys.getsizeof(encoded) + sys.getsizeof(payload)


def _keep(update: Update) -> Kept:
    return (update.seq, update.event, update.encoded, update.accepted_at, update.payload, update.epoch)


def _replay(execution_id: str, kept: Kept) -> Update:
    seq, event, encoded, accepted_at, payload, epoch = kept
    return Update(execution_id, seq, event, encoded, accepted_at, len(payload), payload, epoch)


def _nobody(execution_id: str) -> int | None:
    return None


def _no_eviction(reason: str, events: int) -> None:
    return None


class _Executions:
    """Events and snapshots by execution id; finished ones are kept `retention_s`, unfinished
    ones until they have been silent for `abandoned_after_s` (an engine that died mid-way),
    and all of them within `max_bytes` (see the module's docstring for the order of eviction).

    `finished_at` is in the order executions finished and `last_event_at` in the order they
    were last written to (re-inserted on each event), so the next candidate is always first."""

    def __init__(self, retention_s: float, max_events: int, abandoned_after_s: float = 7 * 24 * 3600.0,
                 max_bytes: int = 256 * 1024 * 1024) -> None:
        self.retention_s = retention_s
        self.abandoned_after_s = abandoned_after_s
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.low_water = max_bytes - max_bytes // 20
        self.snapshots: dict[str, Snapshot] = {}
        self.events: dict[str, list[Kept]] = {}
        self.finished_at: dict[str, float] = {}
        self.last_event_at: dict[str, float] = {}
        self.trimmed: dict[str, int] = {}  # execution -> highest seq no longer stored
        self.held: dict[str, int] = {}  # execution -> bytes of its stored events
        self.snapshot_bytes: dict[str, int] = {}
        self.total_bytes = 0
        self.delivery_floor: DeliveryFloor = _nobody
        self.on_eviction: OnEviction = _no_eviction
        self._stuck_at = -STUCK_RETRY_S  # when make_room last failed: only running streams were left
        self._stuck_bytes = 0  # and how much the store held then

    def append(self, execution_id: str, event: str, data: dict[str, Any], owner: str | None, lang: str | None,
               idempotency_key: str | None = None) -> Update:
        now = time.time()
        timestamp = utc_timestamp(now)
        current = self.snapshots.get(execution_id)
        snapshot, stored = advance(
            current, execution_id, event, data,
            timestamp=timestamp, now=now, owner=owner, lang=lang, max_events=self.max_events,
            idempotency_key=idempotency_key,
        )
        update = Update.build(execution_id, snapshot.seq, timestamp, event, stored, now, snapshot.epoch)
        size = held_bytes(update)
        # A new execution must fit under the low-water mark: the last 5 % is the running streams'.
        limit = self.max_bytes if current is not None else self.low_water
        if self.total_bytes + size > limit:
            if self._worth_trying(now) and not self.make_room(size, keep=execution_id):
                # Nothing more to evict: do not rescan every execution on every event.
                self._stuck_at, self._stuck_bytes = now, self.total_bytes
            if current is None and self.total_bytes + size > limit:
                # Only streams that must not break remain: refuse to start another, rather than grow.
                self.on_eviction("refused", 1)
                raise StoreFull(f"the store is at its budget of {self.max_bytes} bytes with only running executions")
        self.snapshots[execution_id] = snapshot
        self.events.setdefault(execution_id, []).append(_keep(update))
        self.held[execution_id] = self.held.get(execution_id, 0) + size
        # The snapshot holds the latest event's data: its frame is the snapshot's measure.
        self.total_bytes += size + size - self.snapshot_bytes.get(execution_id, 0)
        self.snapshot_bytes[execution_id] = size
        if snapshot.final:
            self.finished_at[execution_id] = now
            self.last_event_at.pop(execution_id, None)
        else:
            self.last_event_at.pop(execution_id, None)  # re-insert: the dict stays in idle order
            self.last_event_at[execution_id] = now
        return update

    def after(self, execution_id: str, seq: int) -> list[Update]:
        events = self.events.get(execution_id, [])
        # seq n sits at index n-1-trimmed: no scan needed.
        return [_replay(execution_id, kept) for kept in events[max(seq - self.trimmed.get(execution_id, 0), 0):]]

    def _worth_trying(self, now: float) -> bool:
        """Eviction failed lately: try again after STUCK_RETRY_S, or once 1 % of the budget was
        written since (new events may be evictable by then)."""
        return now - self._stuck_at >= STUCK_RETRY_S or self.total_bytes - self._stuck_bytes >= self.max_bytes // 100

    def make_room(self, size: int, *, keep: str) -> bool:
        """Evict until `size` more bytes fit under the low-water mark (5 % below the budget, so
        eviction runs in batches rather than on every event): finished executions oldest first
        (skipping one a subscriber is still being sent), then the delivered events of the
        executions idle longest, `keep` (the one being written) last. False when it could not
        get there: what is left is running streams' undelivered events and snapshots."""
        target = self.low_water - size
        for eid in list(self.finished_at):
            if self.total_bytes <= target:
                return True
            if self.delivery_floor(eid) is None:
                self.on_eviction("finished", self.drop(eid))
        for eid in [*(e for e in self.last_event_at if e != keep), keep]:
            if self.total_bytes <= target:
                return True
            self.trim(eid)
        return self.total_bytes <= target

    def trim(self, execution_id: str) -> int:
        """Drop the events of a running execution that every subscriber here has been sent
        (all of them when nobody subscribes); returns how many went. The snapshot stays, and
        `trimmed` tells a later subscriber where the stored stream now starts."""
        events = self.events.get(execution_id)
        if not events:
            return 0
        floor = self.delivery_floor(execution_id)
        start = self.trimmed.get(execution_id, 0)
        last = events[-1][0]
        upto = last if floor is None else min(floor, last)
        n = upto - start
        if n <= 0:
            return 0
        freed = sum(_kept_bytes(kept) for kept in events[:n])
        del events[:n]
        self.trimmed[execution_id] = upto
        self.held[execution_id] -= freed
        self.total_bytes -= freed
        self.on_eviction("idle", n)
        return n

    def drop(self, execution_id: str) -> int:
        """Forget the execution entirely; returns how many stored events went with it."""
        self.snapshots.pop(execution_id, None)
        events = self.events.pop(execution_id, [])
        self.finished_at.pop(execution_id, None)
        self.last_event_at.pop(execution_id, None)
        self.trimmed.pop(execution_id, None)
        self.total_bytes -= self.held.pop(execution_id, 0) + self.snapshot_bytes.pop(execution_id, 0)
        return len(events)

    def expire(self, now: float) -> int:
        old = [eid for eid, at in self.finished_at.items() if now - at > self.retention_s]
        old += [eid for eid, at in self.last_event_at.items() if now - at > self.abandoned_after_s]
        for eid in old:
            self.drop(eid)
        return len(old)


class MemoryStore:
    """The store interface in this process; no `ping`: there is no backend to lose."""

    def __init__(self, config: MemoryStoreConfig | None = None, *, on_operation: OnOperation | None = None) -> None:
        self.config = config or MemoryStoreConfig()
        self._executions = _Executions(
            self.config.retention_s, self.config.max_events_per_execution, self.config.abandoned_after_s,
            self.config.max_bytes,
        )
        self._cache: ResultCache[list[tuple[str, dict[str, Any]]]] = make_cache(
            self.config.cache_policy, self.config.cache_max_entries)
        self._feed: Broadcast[Update] = Broadcast()
        self._sweeper: asyncio.Task[None] | None = None
        self._observe = guarded(on_operation)

    @classmethod
    def from_spec(cls, spec: Spec, *, on_operation: OnOperation | None = None) -> MemoryStore:
        """Build from `diagops.yaml` settings, as RedisStore.from_spec does."""
        return cls(MemoryStoreConfig(**common_settings(spec), max_bytes=spec.store.max_bytes), on_operation=on_operation)

    def usage(self) -> StoreUsage:
        return StoreUsage(self._executions.total_bytes, len(self._executions.snapshots), self.config.max_bytes)

    def watch(self, delivery_floor: DeliveryFloor, on_eviction: OnEviction) -> None:
        self._executions.delivery_floor = delivery_floor
        self._executions.on_eviction = on_eviction

    def trimmed(self, execution_id: str) -> int:
        return self._executions.trimmed.get(execution_id, 0)

    async def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def publish(
        self, execution_id: str, event: str, data: dict[str, Any], *, owner: str | None = None, lang: str | None = None,
        idempotency_key: str | None = None,
    ) -> Update:
        started = time.perf_counter()
        try:
            update = self._executions.append(execution_id, event, data, owner, lang, idempotency_key)
        finally:  # a refusal is an answer too, as the Redis store counts it
            self._observe("publish", time.perf_counter() - started, True)
        self._feed.put(update)
        return update

    async def publish_many(self, items: Sequence[PublishItem]) -> list[Outcome]:
        """A plain loop: in this process there is no round trip to save."""
        return await publish_each(self, items)

    async def events_after(self, execution_id: str, after: int) -> list[Update]:
        started = time.perf_counter()
        events = self._executions.after(execution_id, after)
        self._observe("events_after", time.perf_counter() - started, True)
        return events

    async def snapshot(self, execution_id: str) -> Snapshot | None:
        started = time.perf_counter()
        snapshot = self._executions.snapshots.get(execution_id)
        self._observe("snapshot", time.perf_counter() - started, True)
        return snapshot

    def listen(self) -> AsyncIterator[Update]:
        return self._feed.listen()

    async def cache_get(self, key: str) -> list[tuple[str, dict[str, Any]]] | None:
        started = time.perf_counter()
        events = self._cache.get(key, time.time())
        self._observe("cache_get", time.perf_counter() - started, True)
        return events

    async def cache_put(self, key: str, events: list[tuple[str, dict[str, Any]]], ttl_s: float) -> None:
        started = time.perf_counter()
        now = time.time()
        self._cache.put(key, events, now + ttl_s, now)
        self._observe("cache_put", time.perf_counter() - started, True)

    async def _sweep(self) -> None:
        interval = min(60.0, max(min(self.config.retention_s, self.config.abandoned_after_s) / 4, 0.05))
        while True:
            await asyncio.sleep(interval)
            self._executions.expire(time.time())


_: type[Store] = MemoryStore  # static check that MemoryStore satisfies the interface
_budgeted: type[Budgeted] = MemoryStore
