"""One client's socket: its outbox, its single writer task, and how it ends.

Everything bound for the socket (updates, replies, pings) goes through the
outbox, so frames leave in the order they were queued and one writer owns the
socket. A client that stops reading fills its outbox and is closed alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from push.outbox import PING, PONG, TEXT, Item, Outbox
from push.protocol import CLOSE_POLICY, dumps

if TYPE_CHECKING:
    from aiohttp import web

    from push.auth import Claims
    from push.metrics import Metrics
    from push.store.base import Update

log = logging.getLogger("diagops.ws")

CLOSE_WAIT_S = 1.0


class Connection:
    def __init__(self, ws: web.WebSocketResponse, claims: Claims, *, max_queue_bytes: int, metrics: Metrics, remote: str,
                 transport: asyncio.BaseTransport | None = None) -> None:
        self.ws = ws
        self.transport = transport
        self.claims = claims
        self.remote = remote
        self.metrics = metrics
        self.outbox = Outbox(max_queue_bytes)
        self.subscriptions: dict[str, Any] = {}  # execution_id -> hub.Subscription
        self.opened_at = time.monotonic()
        self.last_seen = self.opened_at
        self.ping_sent_at: float | None = None
        self.close_reason: str | None = None  # set when the server ends the connection
        self._wake = asyncio.Event()
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    @property
    def user(self) -> str:
        return self.claims.sub

    @property
    def closing(self) -> bool:
        return self.close_reason is not None or self.ws.closed

    def send_frame(self, frame: dict[str, Any]) -> bool:
        text = dumps(frame)
        return self._put(Item(TEXT, text, len(text.encode()), 0.0, ""))

    def send_update(self, update: Update) -> bool:
        return self._put(Item(TEXT, update.encoded, update.nbytes, update.accepted_at, update.event))

    def send_ping(self) -> None:
        self.ping_sent_at = time.monotonic()
        self._put(Item(PING, b"", 2, 0.0, ""))

    def send_pong(self, payload: bytes) -> None:
        self._put(Item(PONG, payload, 2 + len(payload), 0.0, ""))

    def saw_pong(self) -> None:
        self.ping_sent_at = None
        self.last_seen = time.monotonic()

    def _put(self, item: Item) -> bool:
        if self.closing:
            return False
        if not self.outbox.put(item):
            self.metrics.slow_consumer_disconnects.inc()
            self.close_soon(CLOSE_POLICY, "slow", reason="slow")
            return False
        self._wake.set()
        return True

    def close_soon(self, code: int, message: str, *, reason: str) -> None:
        """End the connection from the server side without waiting for the caller."""
        if self.close_reason is not None:
            return
        self.close_reason = reason
        asyncio.get_running_loop().create_task(self._close(code, message))

    async def _close(self, code: int, message: str) -> None:
        """Send the close frame and wait briefly for the peer's; a peer that cannot
        take even that (a stuck reader) has its TCP connection aborted."""
        self._writer.cancel()
        stuck = self.close_reason == "slow"
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=message.encode()), timeout=CLOSE_WAIT_S)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError):
            stuck = True
        finally:
            if stuck and self.transport is not None:
                self.transport.abort()  # close() would wait forever to flush to a peer that does not read

    async def drain(self, timeout: float) -> None:
        """Wait until every queued frame is written (shutdown: nothing accepted is lost)."""
        deadline = time.monotonic() + timeout
        while len(self.outbox) and not self.ws.closed and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def close(self, code: int, message: str, *, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
            await self._close(code, message)

    async def finish(self) -> None:
        """Stop the writer once the socket is gone."""
        self._writer.cancel()

    async def _write_loop(self) -> None:
        ws = self.ws
        outbox = self.outbox
        latency = self.metrics.push_latency
        sent = self.metrics.messages_sent
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while len(outbox):
                    item = outbox.pop()
                    if item.kind == TEXT:
                        await ws.send_str(item.payload)  # type: ignore[arg-type]
                        if item.accepted_at:
                            latency.observe(max(time.time() - item.accepted_at, 0.0))
                            sent.labels(item.event).inc()
                    elif item.kind == PING:
                        await ws.ping()
                    else:
                        await ws.pong(item.payload)  # type: ignore[arg-type]
        except asyncio.CancelledError:
            raise
        except (ConnectionError, RuntimeError) as exc:
            log.debug("writer for %s stopped: %s", self.remote, exc)
