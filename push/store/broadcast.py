"""In-process fan-out of a store's live feed to every `listen()` caller (memory and Redis alike)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Broadcast(Generic[T]):
    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[T]] = []

    def __len__(self) -> int:
        """Listeners now: tests wait on it before publishing."""
        return len(self._queues)

    def put(self, item: T) -> None:
        for queue in self._queues:
            queue.put_nowait(item)

    async def listen(self) -> AsyncIterator[T]:
        queue: asyncio.Queue[T] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)
