"""The push service on its own event loop in a thread, for synchronous tests (Selenium) that
also need to reach inside it: close its sockets, slow its engine, make it fail."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from diagops.push.app import create_app
from diagops.push.http_protocol import ContractRunner
from tests.conftest import ServiceParts
from tests.servicekit import SECRET, test_spec

T = TypeVar("T")
CALL_TIMEOUT_S = 10.0


class ThreadedService:
    """`with ThreadedService(**{"engine.speed": 5}) as svc:` ... `svc.url`, `svc.parts`, `svc.call(fn)`."""

    def __init__(self, **overrides: Any) -> None:
        self.app = create_app(test_spec(**overrides), secret=SECRET)
        self.parts = ServiceParts(self.app)
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="threaded-service", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedService:
        self._thread.start()
        self.call(self._start)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self._stop)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run `fn()` on the service's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(timeout=CALL_TIMEOUT_S)

    async def _start(self) -> None:
        self._runner = ContractRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def close_sockets(self, code: int, message: str) -> int:
        """Close every open WebSocket from the service's side; returns how many."""
        async def close_all() -> int:
            connections = list(self.parts.connections)
            await asyncio.gather(*(c.close(code, message, reason="test") for c in connections))
            return len(connections)
        return self.call(close_all)
