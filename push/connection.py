"""One client's socket: its frames, its outbox, its single writer task, and how it ends.

Everything bound for the socket (updates, replies, pings) goes through the
outbox, so frames leave in the order they were queued and one writer owns the
socket. A client that stops reading fills its outbox and is closed alone.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from typing import TYPE_CHECKING, Any

from diagops.push.outbox import PING, PONG, TEXT, Item, Outbox
from diagops.push.protocol import CLOSE_AUTH, CLOSE_POLICY, dumps

if TYPE_CHECKING:
    from aiohttp import web

    from diagops.push.auth import Claims
    from diagops.push.metrics import Metrics
    from diagops.push.store.base import Update

log = logging.getLogger("diagops.ws")

CLOSE_WAIT_S = 1.0
# Above this many bytes waiting in the kernel-side buffer the peer is behind: frames go to the
# outbox, whose byte limit is the slow-consumer policy.
DIRECT_WRITE_MAX_BUFFERED = 64 * 1024
_MEDIUM_HEADER = struct.Struct("!BBH").pack  # FIN + text opcode, 126, 16-bit length
_LONG_HEADER = struct.Struct("!BBQ").pack  # FIN + text opcode, 127, 64-bit length


def ws_text_frame(payload: bytes) -> bytes:
    """An unmasked, uncompressed, final text frame (RFC 6455 5.2): what a server sends. Built here,
    where it is written, so stored and relayed updates never carry socket framing they may not need."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return _MEDIUM_HEADER(0x81, 126, n) + payload
    return _LONG_HEADER(0x81, 127, n) + payload


class Connection:
    def __init__(self, ws: web.WebSocketResponse, claims: Claims, *, max_queue_bytes: int, metrics: Metrics, remote: str,
                 transport: asyncio.BaseTransport | None = None) -> None:
        self.ws = ws
        self.transport = transport
        self.claims = claims
        self.remote = remote
        self.metrics = metrics
        self.outbox = Outbox(max_queue_bytes)
        self.last_seen = time.monotonic()
        self.ping_sent_at: float | None = None
        self.close_reason: str | None = None  # set when the server ends the connection
        # Started only while something is queued: an idle socket costs no task.
        self._writer: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None  # a timer, not a task: idle sockets stay cheap

    def expire_with(self, claims: Claims) -> None:
        """Hold the socket to `claims` (the admission token, or a refresh for the same `sub`):
        when its `exp` passes the socket is closed 4001, unless a later refresh moved it."""
        self.claims = claims
        if self._expiry is not None:
            self._expiry.cancel()
        delay = max(0.0, claims.exp - time.time())
        self._expiry = asyncio.get_running_loop().call_later(delay, self._token_expired)

    def _token_expired(self) -> None:
        self._expiry = None
        self.metrics.auth_failures.labels("expired").inc()
        self.close_soon(CLOSE_AUTH, "token expired", reason="expired")

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
        """Write the update's frame at once when nothing is queued ahead of it and the peer keeps
        up (no task wake-up, no re-encoding); otherwise queue it for the writer."""
        if self._write_now(update.payload):
            self.metrics.count_sent(update.event, time.time() - update.accepted_at)
            return True
        return self._put(Item(TEXT, update.encoded, update.nbytes, update.accepted_at, update.event))

    def send_ping(self) -> None:
        self.ping_sent_at = time.monotonic()
        self._put(Item(PING, b"", 2, 0.0, ""))

    def send_pong(self, payload: bytes) -> None:
        self._put(Item(PONG, payload, 2 + len(payload), 0.0, ""))

    def saw_pong(self) -> None:
        self.ping_sent_at = None
        self.last_seen = time.monotonic()

    def _write_now(self, payload: bytes) -> bool:
        """Order holds: whatever the writer popped is already in the transport (aiohttp writes an
        uncompressed frame synchronously), and nothing else is queued."""
        transport = self.transport
        if (len(self.outbox) or transport is None or self.closing or transport.is_closing()
                or transport.get_write_buffer_size() >= DIRECT_WRITE_MAX_BUFFERED):  # type: ignore[attr-defined]
            return False
        transport.write(ws_text_frame(payload))  # type: ignore[attr-defined]
        return True

    def _put(self, item: Item) -> bool:
        if self.closing:
            return False
        if not self.outbox.put(item):
            self.metrics.slow_consumer_disconnects.inc()
            self.close_soon(CLOSE_POLICY, "slow", reason="slow")
            return False
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_queued())
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
        self._stop_writer()
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
        writer = self._writer
        if writer is not None and not writer.done():
            await asyncio.wait([writer], timeout=timeout)

    async def close(self, code: int, message: str, *, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
            await self._close(code, message)

    async def finish(self) -> None:
        """Stop the writer and the expiry timer once the socket is gone."""
        self._stop_writer()
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def _stop_writer(self) -> None:
        if self._writer is not None:
            self._writer.cancel()

    async def _write_queued(self) -> None:
        """Drain the outbox, then end; `_put` starts a new one when something is queued again."""
        ws = self.ws
        outbox = self.outbox
        try:
            while len(outbox):
                item = outbox.pop()
                if item.kind == TEXT:
                    await ws.send_str(item.payload)  # type: ignore[arg-type]
                    if item.accepted_at:
                        self.metrics.count_sent(item.event, time.time() - item.accepted_at)
                elif item.kind == PING:
                    await ws.ping()
                else:
                    await ws.pong(item.payload)  # type: ignore[arg-type]
        except asyncio.CancelledError:
            raise
        except (ConnectionError, RuntimeError) as exc:
            log.debug("writer for %s stopped: %s", self.remote, exc)
