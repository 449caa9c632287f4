"""The embedded default store: one process, nothing outside it.

A thin adapter over `_Executions` (plain dicts, tested directly) plus an LRU
result cache and an in-process broadcast for `listen()`.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diagops.push.lifecycle import Snapshot, advance
from diagops.push.protocol import utc_timestamp
from diagops.push.store.base import OnOperation, Store, Update, common_settings, guarded
from diagops.push.store.broadcast import Broadcast

if TYPE_CHECKING:
    from diagops.spec import Spec


@dataclass
class MemoryStoreConfig:
    retention_s: float = 24 * 3600.0
    abandoned_after_s: float = 7 * 24 * 3600.0
    max_events_per_execution: int = 1000
    cache_max_entries: int = 10_000


class _Executions:
    """Events and snapshots by execution id; finished ones are kept `retention_s`, unfinished
    ones until they have been silent for `abandoned_after_s` (an engine that died mid-way)."""

    def __init__(self, retention_s: float, max_events: int, abandoned_after_s: float = 7 * 24 * 3600.0) -> None:
        self.retention_s = retention_s
        self.abandoned_after_s = abandoned_after_s
        self.max_events = max_events
        self.snapshots: dict[str, Snapshot] = {}
        self.events: dict[str, list[Update]] = {}
        self.finished_at: dict[str, float] = {}
        self.last_event_at: dict[str, float] = {}

    def append(self, execution_id: str, event: str, data: dict[str, Any], owner: str | None, lang: str | None,
               idempotency_key: str | None = None) -> Update:
        now = time.time()
        timestamp = utc_timestamp(now)
        snapshot, stored = advance(
            self.snapshots.get(execution_id), execution_id, event, data,
            timestamp=timestamp, now=now, owner=owner, lang=lang, max_events=self.max_events,
            idempotency_key=idempotency_key,
        )
        update = Update.build(execution_id, snapshot.seq, timestamp, event, stored, now, snapshot.epoch)
        self.snapshots[execution_id] = snapshot
        self.events.setdefault(execution_id, []).append(update)
        if snapshot.final:
            self.finished_at[execution_id] = now
            self.last_event_at.pop(execution_id, None)
        else:
            self.last_event_at[execution_id] = now
        return update

    def after(self, execution_id: str, seq: int) -> list[Update]:
        events = self.events.get(execution_id, [])
        # seq n sits at index n-1: no scan needed.
        return events[max(seq, 0):]

    def expire(self, now: float) -> int:
        old = [eid for eid, at in self.finished_at.items() if now - at > self.retention_s]
        old += [eid for eid, at in self.last_event_at.items() if now - at > self.abandoned_after_s]
        for eid in old:
            self.snapshots.pop(eid, None)
            self.events.pop(eid, None)
            self.finished_at.pop(eid, None)
            self.last_event_at.pop(eid, None)
        return len(old)


class _LruCache:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[str, tuple[float, list[tuple[str, dict[str, Any]]]]] = OrderedDict()

    def get(self, key: str, now: float) -> list[tuple[str, dict[str, Any]]] | None:
        found = self.entries.get(key)
        if found is None:
            return None
        expires, events = found
        if now >= expires:
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return events

    def put(self, key: str, events: list[tuple[str, dict[str, Any]]], expires: float) -> None:
        if self.max_entries <= 0:
            return
        self.entries[key] = (expires, events)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)


class MemoryStore:
    """The store interface in this process; no `ping`: there is no backend to lose."""

    def __init__(self, config: MemoryStoreConfig | None = None, *, on_operation: OnOperation | None = None) -> None:
        self.config = config or MemoryStoreConfig()
        self._executions = _Executions(
            self.config.retention_s, self.config.max_events_per_execution, self.config.abandoned_after_s
        )
        self._cache = _LruCache(self.config.cache_max_entries)
        self._feed: Broadcast[Update] = Broadcast()
        self._sweeper: asyncio.Task[None] | None = None
        self._observe = guarded(on_operation)

    @classmethod
    def from_spec(cls, spec: Spec, *, on_operation: OnOperation | None = None) -> MemoryStore:
        """Build from `diagops.yaml` settings, as RedisStore.from_spec does."""
        return cls(MemoryStoreConfig(**common_settings(spec)), on_operation=on_operation)

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
        self._cache.put(key, events, time.time() + ttl_s)
        self._observe("cache_put", time.perf_counter() - started, True)

    async def _sweep(self) -> None:
        interval = min(60.0, max(min(self.config.retention_s, self.config.abandoned_after_s) / 4, 0.05))
        while True:
            await asyncio.sleep(interval)
            self._executions.expire(time.time())


_: type[Store] = MemoryStore  # static check that MemoryStore satisfies the interface
