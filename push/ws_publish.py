"""`publish` frames on `/ws`: an engine's stream of events on one socket, acknowledged by `ref`.

Each frame is judged exactly as the HTTP publish API judges it (`publishing.parse_item`), and its
answer carries the same codes. Publishes on a socket are stored and answered in the order they
were sent while the publisher pipelines them (no waiting for each answer).

Batched as they come, with no wait added: the first frame goes to the store at once; frames
that arrive while that store call is in flight queue behind it and go together in the next
`publish_many` (one Redis round trip for all of them). A publisher that sends one frame at a
time gets one call per frame; one that pipelines gets batches as large as its lead on the
store. The queue is bounded (`limits.max_batch_events`): past it the socket's receive loop
waits, so a publisher faster than the store is slowed down by TCP, not buffered in memory.
Any other kind of frame waits until the queued publishes are answered, so answers keep the
order of the frames, as when the socket handled one frame at a time.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any, Final

from diagops.push import protocol as p
from diagops.push.keys import METRICS, PUBLISHER, SPEC
from diagops.push.lifecycle import MalformedEvent
from diagops.push.publishing import ITEM_FIELDS, PublishItem, parse_item

if TYPE_CHECKING:
    from aiohttp import web

    from diagops.push.connection import Connection

log = logging.getLogger("diagops.ws")

MAX_REF: Final = 200
FRAME_FIELDS: Final = ITEM_FIELDS | {"type", "ref"}

Entry = tuple[dict[str, Any], "str | None", "PublishItem | None", "tuple[str, str] | None"]
"""(frame, ref, item to store, or the (code, message) already decided)."""


class PublishStream:
    """One socket's queue of publish frames and the task that stores and answers them in order."""

    def __init__(self, app: web.Application, conn: Connection) -> None:
        self.app = app
        self.conn = conn
        self.max_queued = app[SPEC].limits.max_batch_events
        self._queue: deque[Entry] = deque()
        self._task: asyncio.Task[None] | None = None
        self._room = asyncio.Event()

    async def submit(self, frame: dict[str, Any]) -> None:
        entry = _entry(frame)
        if self._task is None and entry[2] is None:  # nothing ahead of it: answer at once
            self._answer(entry, None)
            return
        while len(self._queue) >= self.max_queued:
            self._room.clear()
            await self._room.wait()
        self._queue.append(entry)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain(), name="diagops-ws-publish")

    async def finish(self) -> None:
        """Store and answer what was received before the socket ended."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), self.max_queued))]
                self._room.set()
                items = [item for _, _, item, _ in batch if item is not None]
                results = iter(await self.app[PUBLISHER].publish_items(items, path="ws"))
                for entry in batch:
                    self._answer(entry, next(results) if entry[2] is not None else None)
        except Exception:  # as the receive loop treats a failed frame: end this socket with a close code
            log.exception("ws publish from user=%s remote=%s failed", self.conn.user, self.conn.remote)
            self._queue.clear()
            await self.conn.close(p.CLOSE_INTERNAL, "internal error", reason="internal")
        finally:
            self._task = None
            self._room.set()

    def _answer(self, entry: Entry, result: dict[str, Any] | None) -> None:
        frame, ref, item, decided = entry
        if decided is not None:
            _error(self.app, self.conn, decided[0], decided[1], ref, frame)
            return
        assert item is not None and result is not None
        if "error" in result:
            _error(self.app, self.conn, result["error"]["code"], result["error"]["message"], ref, frame)
            return
        answer: dict[str, Any] = {"type": "published", "ref": ref, "execution_id": item.execution_id, "seq": result["seq"]}
        if result.get("duplicate"):
            answer["duplicate"] = True
        self.conn.send_frame(answer)


_streams: weakref.WeakKeyDictionary[Connection, PublishStream] = weakref.WeakKeyDictionary()


async def handle_publish(app: web.Application, conn: Connection, frame: dict[str, Any]) -> None:
    """Queue the frame for its `published` or `error` answer naming its `ref`."""
    stream = _streams.get(conn)
    if stream is None:
        stream = _streams[conn] = PublishStream(app, conn)
    await stream.submit(frame)


async def settle_publishing(conn: Connection, *, ended: bool = False) -> None:
    """Wait until every publish frame received on the socket is stored and answered: before
    another kind of frame is handled (so its answer, a `pong` say, still comes after theirs,
    as when the socket handled one frame at a time), and when the receive loop ends (`ended`)."""
    stream = _streams.pop(conn, None) if ended else _streams.get(conn)
    if stream is not None:
        await stream.finish()


def _entry(frame: dict[str, Any]) -> Entry:
    ref = frame.get("ref")
    if not isinstance(ref, str) or not 0 < len(ref) <= MAX_REF:
        code = p.MISSING_FIELD if ref is None else p.INVALID_FIELD
        return frame, None, None, (code, f"'ref' must be a string of 1 to {MAX_REF} characters")
    try:
        return frame, ref, parse_item(frame, allowed=FRAME_FIELDS), None
    except MalformedEvent as exc:
        return frame, ref, None, (exc.code, exc.message)


def _error(app: web.Application, conn: Connection, code: str, message: str, ref: str | None,
           frame: dict[str, Any]) -> None:
    app[METRICS].frame_errors.labels(code).inc()
    execution_id = frame.get("execution_id")
    reply = p.error_frame(code, message, execution_id if isinstance(execution_id, str) else None)
    if ref is not None:
        reply["ref"] = ref
    conn.send_frame(reply)
