"""The WebSocket connections this process serves, and whether it is draining them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diagops.push.connection import Connection


class OpenConnections:
    """Admission counts them, the heartbeat sweeps them, shutdown closes them with 1001.
    Once `draining`, no new socket is admitted and /readyz answers 503."""

    __slots__ = ("_all", "draining")

    def __init__(self) -> None:
        self._all: set[Connection] = set()
        self.draining = False

    def add(self, conn: Connection) -> None:
        self._all.add(conn)

    def discard(self, conn: Connection) -> None:
        self._all.discard(conn)

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[Connection]:
        return iter(self._all)
