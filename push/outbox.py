"""A connection's bounded queue of unsent frames.

The limit is the policy (centrifuge's `enqueue` returning "slow"): `put`
answers False when the frame would take the queue over its byte budget, and
the caller closes that one client; nobody else waits.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

TEXT = 0
PING = 1
PONG = 2


class Item(NamedTuple):
    kind: int
    payload: str | bytes
    nbytes: int
    accepted_at: float  # 0.0 for frames that are not diagnosis updates
    event: str


class Outbox:
    __slots__ = ("limit", "size", "_items")

    def __init__(self, limit_bytes: int) -> None:
        self.limit = limit_bytes
        self.size = 0
        self._items: deque[Item] = deque()

    def put(self, item: Item) -> bool:
        if self.size + item.nbytes > self.limit:
            return False
        self._items.append(item)
        self.size += item.nbytes
        return True

    def pop(self) -> Item:
        item = self._items.popleft()
        self.size -= item.nbytes
        return item

    def __len__(self) -> int:
        return len(self._items)
