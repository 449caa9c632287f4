"""The Redis live feed: one pub/sub connection per process, fanned out to local listeners.

Why pub/sub and not Streams: the per-execution log (a list, see redis.py) is
already the durable source of truth and the hub checks `seq` on every update.
The live feed only has to be fast and to say when it may have missed something;
pub/sub is the cheapest way to be fast (one PUBLISH inside the append script,
no per-process read cursor, no second copy of every event to trim), and every
way it can lose messages (a dropped connection, a Redis restart, Redis cutting
off a slow subscriber at its output-buffer limit) ends the connection, which
this feed turns into RESYNC once it has subscribed again. The hub then re-reads
the log, so nothing is lost and the seq check drops what it already has.

A connection that dies silently (a partition, no RST) is found by pinging
through the subscription when it has been quiet, and treating a missing pong as
a lost connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from diagops.push.store.base import RESYNC, Resync, Update
from diagops.push.store.broadcast import Broadcast

log = logging.getLogger("diagops.store.redis")

_PING_MESSAGE = "diagops-feed-check"


class Backoff:
    """Capped exponential delays with jitter: reconnecting processes do not stampede Redis."""

    def __init__(self, first_s: float, cap_s: float) -> None:
        self.first_s = first_s
        self.cap_s = cap_s
        self.attempt = 0

    def next(self) -> float:
        delay = min(self.cap_s, self.first_s * (2**self.attempt))
        self.attempt += 1
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0


class LiveFeed:
    """Reads one channel and hands every update to each local listener queue, in order.

    A message is one envelope or a batch of them (`decode` answers the list): a batch
    publish broadcasts its events in one PUBLISH, and a single-envelope message from a process
    of an older version still decodes, as a batch of one.

    `ready` is set while subscribed; listeners get RESYNC after every
    re-subscription (never after the first one: there was nothing to miss yet).
    """

    def __init__(
        self,
        client: Redis,
        channel: str,
        decode: Callable[[str], list[Update]],
        *,
        quiet_s: float,
        pong_timeout_s: float,
        backoff: Backoff,
        on_error: Callable[[BaseException], None] | None = None,
        listeners: Broadcast[Update | Resync] | None = None,
    ) -> None:
        self._client = client
        self._channel = channel
        self._decode = decode
        self._quiet_s = quiet_s
        self._pong_timeout_s = pong_timeout_s
        self._backoff = backoff
        self._on_error = on_error
        # Shared when several feeds (a sharded store's) hand updates to the same listeners.
        self.listeners: Broadcast[Update | Resync] = Broadcast() if listeners is None else listeners
        self.ready = asyncio.Event()
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="diagops-redis-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self.ready.clear()

    async def _run(self) -> None:
        interrupted = False
        while True:
            pubsub = self._client.pubsub()
            try:
                await self._subscribe(pubsub)
                self._backoff.reset()
                self.ready.set()
                if interrupted:
                    self.reconnects += 1
                    log.info("redis live feed subscribed again; listeners re-read the log")
                    self.listeners.put(RESYNC)
                await self._read(pubsub)
            except (RedisError, OSError, asyncio.TimeoutError) as exc:
                if not interrupted or self.ready.is_set():
                    log.warning("redis live feed lost: %s", exc)
                self.ready.clear()
                interrupted = True
                if self._on_error is not None:
                    self._on_error(exc)
                await asyncio.sleep(self._backoff.next())
            finally:
                try:
                    await asyncio.shield(pubsub.aclose())
                except (RedisError, OSError):
                    pass

    async def _subscribe(self, pubsub: Any) -> None:
        """Subscribe and wait for Redis to confirm: only then are later publishes certain to arrive."""
        await pubsub.subscribe(self._channel)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._pong_timeout_s
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError("redis did not confirm the subscription")
            message = await pubsub.get_message(timeout=left)
            if message is not None and message["type"] == "subscribe":
                return

    async def _read(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        ping_sent: float | None = None
        while True:
            message = await pubsub.get_message(timeout=min(self._quiet_s, self._pong_timeout_s))
            now = loop.time()
            if message is not None:
                last_heard = now
                ping_sent = None
                if message["type"] == "message":
                    try:
                        updates = self._decode(message["data"])
                    except (ValueError, KeyError, TypeError) as exc:
                        log.error("ignored an undecodable message on %s: %s", self._channel, exc)
                        continue
                    for update in updates:  # a batch's envelopes come in one message
                        self.listeners.put(update)
                continue
            if ping_sent is not None and now - ping_sent > self._pong_timeout_s:
                raise TimeoutError(f"no pong from redis within {self._pong_timeout_s} s")
            if ping_sent is None and now - last_heard >= self._quiet_s:
                await pubsub.ping(_PING_MESSAGE)
                ping_sent = now
