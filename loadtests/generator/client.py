"""One long-lived diagnosis socket, as the mini program holds it, for one Locust user.

Imported only inside a Locust process (it relies on gevent's monkey-patching:
websocket-client's blocking calls then yield to other users). One greenlet
receives: it answers server pings (websocket-client does that inside
`recv_data_frame`), classifies every update through a `StreamTracker`, and on a
dropped connection reconnects and re-subscribes each open execution with its
`last_seq`, so the server replays what was missed. The user's task greenlet
starts diagnoses and waits for their final event.

Every outcome goes through one `Reporter.report` call, into Locust's
statistics and the process's tally at once; bare counters (gaps, reconnects,
open sockets) go to the tally alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import gevent
import websocket
from gevent.event import AsyncResult, Event

from diagops.loadtests.generator.reporting import Failure, Reporter
from diagops.loadtests.tracker import StreamTracker, event_epoch
from diagops.push.protocol import dumps

RECONNECT_BACKOFF_S = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
CLOSE_REASONS = {1000: "normal", 1001: "going_away", 1008: "policy", 1009: "too_big", 1013: "try_again",
                 4001: "auth", 4008: "heartbeat"}


class DiagnosisSocket:
    """A reconnecting WebSocket that follows many executions, one after another or at once."""

    def __init__(
        self,
        ws_url: str,
        token: Callable[[], str],
        reporter: Reporter,
        *,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.ws_url = ws_url
        self._token = token
        self._report = reporter.report
        self._collector = reporter.collector
        self._connect_timeout_s = connect_timeout_s
        self._ws: websocket.WebSocket | None = None
        self._generation = 0
        self._trackers: dict[str, StreamTracker] = {}
        self._finals: dict[str, Event] = {}
        self._pong: AsyncResult | None = None
        self._closing = False
        self._receiver: gevent.Greenlet | None = None
        self._connected_once = False

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        """Connect (reported as `connect`) and start receiving; a failed first connect retries in the receiver."""
        self._connect()
        self._receiver = gevent.spawn(self._receive_loop)

    def close(self) -> None:
        """Close politely (1000) without waiting for the server's answer: the run is ending."""
        self._closing = True
        ws = self._ws
        if self._receiver is not None:
            self._receiver.kill(block=False)
        if ws is not None:
            self._ws = None
            self._collector.socket_closed()
            try:
                ws.send_close(websocket.STATUS_NORMAL)
            except Exception:
                pass
            ws.shutdown()

    # -- what a user does -------------------------------------------------------------------

    def watch(self, tracker: StreamTracker) -> Event:
        """Subscribe to an execution; the returned event is set when its final update arrives."""
        done = Event()
        self._trackers[tracker.execution_id] = tracker
        self._finals[tracker.execution_id] = done
        self._subscribe(tracker)
        return done

    def forget(self, tracker: StreamTracker) -> None:
        """Stop following an execution (after its final event, a timeout or the end of the run)."""
        self._finals.pop(tracker.execution_id, None)
        if self._trackers.pop(tracker.execution_id, None) is not None:
            self._send({"type": "unsubscribe", "execution_id": tracker.execution_id})

    def ping(self, timeout_s: float) -> float | None:
        """Application-level ping; the round trip in seconds, or None without a pong in time."""
        self._pong = AsyncResult()
        sent = time.perf_counter()
        if not self._send({"type": "ping"}):
            return None
        self._collector.count("pings_sent")
        try:
            self._pong.get(timeout=timeout_s)
        except gevent.Timeout:
            return None
        return time.perf_counter() - sent

    # -- connection -------------------------------------------------------------------

    def _connect(self) -> bool:
        started = time.perf_counter()
        try:
            ws = websocket.create_connection(
                self.ws_url,
                timeout=self._connect_timeout_s,
                header=[f"Authorization: Bearer {self._token()}"],
                skip_utf8_validation=True,  # +45 µs a message in pure Python otherwise
                enable_multithread=True,  # the task and receiver greenlets both send
            )
        except Exception as exc:  # refused, 401/429/503 on upgrade, timeout
            self._report("connect", time.perf_counter() - started, latency=False, count="connect_failures",
                         failure=Failure(f"connect failed: {_short(exc)}", tallied_elsewhere=True))
            return False
        ws.settimeout(None)  # the receiver blocks until a frame or the connection's end
        self._report("connect", time.perf_counter() - started, count="connects")
        self._ws = ws
        self._generation += 1
        self._collector.socket_opened()
        reconnect = self._connected_once
        self._connected_once = True
        if reconnect:
            self._collector.count("reconnects")
        for tracker in list(self._trackers.values()):
            if reconnect and not tracker.done:
                self._collector.count("resubscribes")
            self._subscribe(tracker)
        return True

    def _lost(self, ws: websocket.WebSocket, reason: str) -> None:
        """Forget a dead connection once, whoever noticed first (receiver or a failed send)."""
        if self._ws is not ws:
            return
        self._ws = None
        self._collector.socket_closed()
        self._collector.disconnected(reason)
        ws.shutdown()

    def _send(self, frame: dict[str, object]) -> bool:
        ws = self._ws
        if ws is None:
            return False
        try:
            ws.send(dumps(frame))
        except Exception:
            self._lost(ws, "send_failed")
            return False
        return True

    def _subscribe(self, tracker: StreamTracker) -> None:
        # Once per connection: re-subscribing on the same socket would replay events twice.
        if self._ws is None or tracker.generation == self._generation:
            return
        tracker.generation = self._generation
        self._send({"type": "subscribe", "execution_id": tracker.execution_id, "last_seq": tracker.last_seq})

    # -- receiving -------------------------------------------------------------------

    def _receive_loop(self) -> None:
        attempt = 0
        while not self._closing:
            ws = self._ws
            if ws is None:
                gevent.sleep(RECONNECT_BACKOFF_S[min(attempt, len(RECONNECT_BACKOFF_S) - 1)])
                attempt += 1
                self._connect()
                continue
            attempt = 0
            try:
                opcode, frame = ws.recv_data_frame(True)
            except Exception as exc:  # reset, EOF, the socket shut by a failed send
                if not self._closing:
                    self._lost(ws, "closed_without_frame" if _is_eof(exc) else "reset")
                continue
            if opcode == websocket.ABNF.OPCODE_TEXT:
                self._on_text(frame.data, time.time())
            elif opcode == websocket.ABNF.OPCODE_PING:
                self._collector.count("server_pings")  # already answered by websocket-client
            elif opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else 1005
                self._lost(ws, CLOSE_REASONS.get(code, f"close_{code}"))

    def _on_text(self, data: bytes | str, received: float) -> None:
        try:
            message = json.loads(data)
            kind = message["type"]
        except (ValueError, KeyError, TypeError):
            self._report("frame", 0.0, length=len(data), count="frame_errors",
                         failure=Failure("unparseable frame", "unparseable frame from the server"))
            return
        if kind == "diagnosis_update":
            self._on_update(message, received, len(data))
        elif kind == "subscribed":
            tracker = self._trackers.get(message.get("execution_id", ""))
            if tracker is not None:
                tracker.on_subscribed(int(message.get("seq", 0)))
        elif kind == "pong":
            if self._pong is not None and not self._pong.ready():
                self._pong.set(received)
                self._collector.count("pongs")
        elif kind == "error":
            self._report("frame", 0.0, length=len(data), count="frame_errors",
                         failure=f"server error frame: {message.get('code')}")

    def _on_update(self, message: dict[str, object], received: float, length: int) -> None:
        self._collector.event_received()
        execution_id = str(message.get("execution_id", ""))
        tracker = self._trackers.get(execution_id)
        if tracker is None:
            self._report("untracked", 0.0, length=length, failure="update for an execution not subscribed")
            return
        try:
            seq = int(message["seq"])  # type: ignore[call-overload]
            event = str(message["event"])
            sent = event_epoch(str(message["timestamp"]))
        except (KeyError, TypeError, ValueError):
            self._report("frame", 0.0, length=length, failure=Failure("malformed update", "malformed diagnosis_update"))
            return
        delivery = tracker.on_update(seq, event, sent, received)
        if delivery.lost:
            self._collector.count("gaps")
            self._collector.count("events_lost", delivery.lost)
        reason = delivery.reason
        if reason is None and event == "error":
            data = message.get("data")
            tracker.error_type = str(data.get("error_type", "?")) if isinstance(data, dict) else "?"
            reason = f"error event: {tracker.error_type}"
        # Locust groups failures by message: the stable reason keeps its table short.
        if delivery.kind == "duplicate":  # shown under its event; its latency was recorded when it first came
            self._report(event, delivery.latency_s, length=length, failure=reason, latency=False, count="duplicates")
        else:
            self._report(delivery.kind, delivery.latency_s, length=length, failure=reason,
                         count="events_replayed" if delivery.kind == "replay" else "events_live")
        if delivery.final:
            done = self._finals.get(execution_id)
            if done is not None:
                done.set()


def _is_eof(exc: Exception) -> bool:
    return isinstance(exc, websocket.WebSocketConnectionClosedException)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:160] if text else type(exc).__name__
