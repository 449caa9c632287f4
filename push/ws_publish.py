"""`publish` frames on `/ws`: an engine's stream of events on one socket, acknowledged by `ref`.

The receive loop handles one frame at a time, so publishes on a socket are judged and stored
in the order they were sent while the publisher pipelines them (no waiting for each answer).
Each is judged exactly as the HTTP publish API judges it (`publishing.parse_item`), and its
answer carries the same codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from diagops.push import protocol as p
from diagops.push.keys import METRICS, PUBLISHER
from diagops.push.lifecycle import MalformedEvent
from diagops.push.publishing import ITEM_FIELDS, parse_item

if TYPE_CHECKING:
    from aiohttp import web

    from diagops.push.connection import Connection

MAX_REF: Final = 200
FRAME_FIELDS: Final = ITEM_FIELDS | {"type", "ref"}


async def handle_publish(app: web.Application, conn: Connection, frame: dict[str, Any]) -> None:
    """Answer `published` or an `error` naming the frame's `ref`."""
    ref = frame.get("ref")
    if not isinstance(ref, str) or not 0 < len(ref) <= MAX_REF:
        code = p.MISSING_FIELD if ref is None else p.INVALID_FIELD
        _error(app, conn, code, f"'ref' must be a string of 1 to {MAX_REF} characters", None, frame)
        return
    try:
        item = parse_item(frame, allowed=FRAME_FIELDS)
    except MalformedEvent as exc:
        _error(app, conn, exc.code, exc.message, ref, frame)
        return
    result = await app[PUBLISHER].publish_item(item, path="ws")
    if "error" in result:
        _error(app, conn, result["error"]["code"], result["error"]["message"], ref, frame)
        return
    answer: dict[str, Any] = {"type": "published", "ref": ref, "execution_id": item.execution_id, "seq": result["seq"]}
    if result.get("duplicate"):
        answer["duplicate"] = True
    conn.send_frame(answer)


def _error(app: web.Application, conn: Connection, code: str, message: str, ref: str | None,
           frame: dict[str, Any]) -> None:
    app[METRICS].frame_errors.labels(code).inc()
    execution_id = frame.get("execution_id")
    reply = p.error_frame(code, message, execution_id if isinstance(execution_id, str) else None)
    if ref is not None:
        reply["ref"] = ref
    conn.send_frame(reply)
