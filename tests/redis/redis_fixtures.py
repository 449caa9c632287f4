"""What the Redis tier's tests import by name: a real redis-server on a free port, waiting, and listening to a store.

A module rather than conftest code so test files can import the helpers by name.
The server is `diagops.procs.redis_server.RedisServer`: an append-only file
fsynced on every write, so a SIGKILL and a restart on the same port keep every
acknowledged write (what a production Redis for diagops should be configured to do).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from diagops.procs.ports import free_port  # noqa: F401 - re-exported for the Redis tests
from diagops.procs.redis_server import REDIS_SERVER, RedisServer  # noqa: F401 - likewise
from tests.waiting import eventually


@asynccontextmanager
async def listening(store: Any, registered: Callable[[], bool]) -> AsyncIterator[list[Any]]:
    """What `store.listen()` yields while the block runs, in order. The block starts once
    `registered()` says the listener is in place (listen() registers on first iteration), so
    nothing published inside it can be missed."""
    received: list[Any] = []

    async def listen() -> None:
        async for item in store.listen():
            received.append(item)

    task = asyncio.create_task(listen())
    try:
        await eventually(registered)
        yield received
    finally:
        task.cancel()
