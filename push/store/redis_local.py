"""Process-local helpers of the Redis store: per-execution locks and recent snapshots.

Neither holds state Redis does not also hold; both only save work in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator

from diagops.push.lifecycle import Snapshot


class KeyedLocks:
    """asyncio locks by key, dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    @contextlib.asynccontextmanager
    async def hold_many(self, keys: list[str]) -> AsyncIterator[None]:
        """Every key's lock, taken in sorted order: two batches naming the same executions in
        different orders then queue behind each other instead of each holding what the other
        waits for."""
        async with contextlib.AsyncExitStack() as stack:
            for key in sorted(keys):
                await stack.enter_async_context(self.hold(key))
            yield

    def __len__(self) -> int:
        return len(self._locks)


class RecentSnapshots:
    """The snapshots this process last wrote, for executions still running (LRU-bounded).

    Publishing validates against the cached snapshot and lets the append
    script's compare-and-swap catch a stale one, so the usual publish (one
    engine feeding one execution through one process) is one round trip
    instead of two. A stale entry costs nothing but the conflict it causes.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Snapshot] = OrderedDict()

    def get(self, execution_id: str) -> Snapshot | None:
        snapshot = self._entries.get(execution_id)
        if snapshot is not None:
            self._entries.move_to_end(execution_id)
        return snapshot

    def put(self, snapshot: Snapshot) -> None:
        if snapshot.final or self.max_entries <= 0:
            self.drop(snapshot.execution_id)  # nothing can follow: no reason to keep it
            return
        self._entries[snapshot.execution_id] = snapshot
        self._entries.move_to_end(snapshot.execution_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def drop(self, execution_id: str) -> None:
        self._entries.pop(execution_id, None)

    def __len__(self) -> int:
        return len(self._entries)
