"""The push service as the Locust user's WebSocket sees it, scripted: no server, no network.

It replaces `websocket.create_connection` (the one call through which the user's
client reaches a server) and answers frames the way the contract says a server
does: a `subscribe` gets the next batch of frames a test scripted for that
execution, a `ping` a `pong`. Everything the client sent is kept for asserting.
Imported only in a process that imported locust first (gevent queues).
"""

from __future__ import annotations

import json
import time
from typing import Any

import websocket
from gevent.queue import Queue

from diagops.push.protocol import dumps, update_message, utc_timestamp

DROP = object()  # in a batch: the connection ends there, without a close frame


def update(execution_id: str, seq: int, event: str = "progress", *, age_s: float = 0.0,
           data: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `diagnosis_update` whose server timestamp is `age_s` seconds old."""
    return update_message(execution_id, seq, utc_timestamp(time.time() - age_s), event, data or {})


def subscribed(execution_id: str, seq: int = 0) -> dict[str, Any]:
    return {"type": "subscribed", "execution_id": execution_id, "seq": seq}


class ScriptedServer:
    """Connections the client opens, and what each `subscribe` is answered with."""

    def __init__(self) -> None:
        self.sockets: list[ScriptedSocket] = []
        self.connect_kwargs: list[dict[str, Any]] = []
        self.refuse_next = 0  # this many connects fail before one succeeds
        self.answer_pings = True
        self._batches: dict[str, list[list[Any]]] = {}

    def on_subscribe(self, execution_id: str, *frames: Any) -> None:
        """The frames (dicts, raw text or DROP) one `subscribe` of `execution_id` is answered with; in order."""
        self._batches.setdefault(execution_id, []).append(list(frames))

    def create_connection(self, url: str, **kwargs: Any) -> ScriptedSocket:
        self.connect_kwargs.append({"url": url, **kwargs})
        if self.refuse_next:
            self.refuse_next -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        socket = ScriptedSocket(self)
        self.sockets.append(socket)
        return socket

    def next_batch(self, execution_id: str) -> list[Any]:
        batches = self._batches.get(execution_id)
        return batches.pop(0) if batches else []


class ScriptedSocket:
    """One connection: the websocket-client calls the user's client makes, over a queue of frames."""

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.sent: list[dict[str, Any]] = []
        self.close_status: int | None = None
        self._inbox: Queue = Queue()
        self._dropped = False

    # -- what a test does -------------------------------------------------------------------

    def push(self, frame: Any, opcode: int = websocket.ABNF.OPCODE_TEXT) -> None:
        """A frame from the server: a message dict, raw text, or DROP."""
        if frame is DROP:
            self._inbox.put(DROP)
            return
        text = frame if isinstance(frame, str) else dumps(frame)
        self._inbox.put(websocket.ABNF(fin=1, opcode=opcode, mask_value=0, data=text.encode()))

    # -- what the client calls -------------------------------------------------------------------

    def settimeout(self, timeout: float | None) -> None:
        pass

    def send(self, text: str) -> None:
        if self._dropped:
            raise websocket.WebSocketConnectionClosedException("socket is already closed.")
        frame = json.loads(text)
        self.sent.append(frame)
        if frame["type"] == "subscribe":
            for reply in self.server.next_batch(frame["execution_id"]):
                self.push(reply)
        elif frame["type"] == "ping" and self.server.answer_pings:
            self.push({"type": "pong", "timestamp": utc_timestamp()})

    def recv_data_frame(self, control_frame: bool = False) -> tuple[int, websocket.ABNF]:
        frame = self._inbox.get()
        if frame is DROP:
            self._dropped = True
            raise websocket.WebSocketConnectionClosedException("Connection to remote host was lost.")
        return frame.opcode, frame

    def send_close(self, status: int = websocket.STATUS_NORMAL) -> None:
        self.close_status = status

    def shutdown(self) -> None:
        self._dropped = True
