"""Arbitrary frames against a running `diagops serve`, with Hypothesis: every frame gets a
defined answer (a strict-JSON frame of a contract type, or a close code the contract or RFC 6455
names), and a control subscriber on the same service receives its events 1..N meanwhile.

The service is a real process and the clients are websocket-client, so frames go out exactly as
drawn (invalid UTF-8 in a text frame included) and nothing in the test shares the service's loop.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagops.push import protocol as p
from diagops.push.strict_json import parse
from tests.servicekit import ServiceProcess, serve_process, token

ANSWER_TYPES = {"error", "pong", "subscribed", "unsubscribed"}
ERROR_CODES = {p.BAD_JSON, p.MISSING_FIELD, p.INVALID_FIELD, p.UNKNOWN_TYPE, p.NOT_FOUND, p.FORBIDDEN,
               p.TOO_MANY_SUBSCRIPTIONS}
CLOSE_CODES = {1002, 1007, p.CLOSE_TOO_BIG}  # protocol error, text not UTF-8, frame too big
CONTROL = "e-control"
MAX_FRAME = 64 * 1024

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["subscribe", "unsubscribe", "ping", "refresh", "publish", ""]) | JSON,
    "execution_id": st.sampled_from([CONTROL, "e-1", "x" * 201, "e\nx"]) | st.from_regex(r"[A-Za-z0-9._:-]{1,200}", fullmatch=True) | JSON,
    "last_seq": st.integers(-(2**70), 2**70) | JSON,
    "token": JSON,
})
TEXT, BINARY = websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY
FRAMES = st.one_of(
    FIELDS.map(lambda d: (TEXT, json.dumps(d).encode())),
    st.text(max_size=200).map(lambda t: (TEXT, t.encode())),
    st.binary(max_size=200).map(lambda b: (TEXT, b)),  # mostly not UTF-8
    st.binary(max_size=200).map(lambda b: (BINARY, b)),
    st.integers(1, 5000).map(lambda n: (TEXT, b"[" * n + b"]" * n)),
    st.integers(1, 2000).map(lambda n: (TEXT, b'{"a":' * n + b"1" + b"}" * n)),
    st.integers(0xD800, 0xDFFF).map(lambda c: (TEXT, b'{"type":"subscribe","execution_id":"\\u%04x"}' % c)),
    st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400"]).map(lambda n: (TEXT, b'{"type":"ping","x":' + n + b"}")),
    st.integers(MAX_FRAME - 64, MAX_FRAME + 64).map(lambda n: (TEXT, b'{"type":"ping","p":"' + b"x" * (n - 22) + b'"}')),
)


class Control:
    """Alice, subscribed to her own execution, reading every frame on a thread of its own."""

    def __init__(self, service: ServiceProcess) -> None:
        self.service = service
        self.published = 0
        self.frames: list[dict[str, Any]] = []
        self.publish("progress", {"progress": 0}, owner="alice")
        self.ws = websocket.create_connection(f"{service.ws_url}?token={token('alice')}", timeout=30)
        self.ws.send(json.dumps({"type": "subscribe", "execution_id": CONTROL}))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def publish(self, event: str, data: dict[str, Any], **extra: Any) -> None:
        body = json.dumps({"event": event, "data": data, **extra}).encode()
        request = urllib.request.Request(f"{self.service.url}/api/v1/executions/{CONTROL}/events", data=body,
                                         headers={"Authorization": f"Bearer {token('engine', ('publish',))}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 202
        self.published += 1

    def _read(self) -> None:
        while True:
            frame = json.loads(self.ws.recv())
            self.frames.append(frame)
            if frame.get("event") == "complete":
                return

    def finish(self) -> list[int]:
        """Publish the final event and return the seqs the control socket received."""
        self.publish("complete", {"report": {}})
        self.reader.join(timeout=30)
        assert not self.reader.is_alive(), "the control subscriber never saw its final event"
        self.ws.close()
        return [f["seq"] for f in self.frames if f["type"] == "diagnosis_update"]


@contextmanager
def fuzz_target(tmp_path: Path) -> Iterator[ServiceProcess]:
    env = {"DIAGOPS_LIMITS__CONNECTION_RATE": "100000", "DIAGOPS_LIMITS__CONNECTION_BURST": "100000"}
    with serve_process(tmp_path, env=env) as service:
        yield service


def answer_to(service: ServiceProcess, opcode: int, payload: bytes) -> tuple[int, bytes]:
    """(opcode, data) of the first frame the service sends back on a fresh socket; after a text
    answer the same socket must still answer a ping."""
    ws = websocket.create_connection(f"{service.ws_url}?token={token('mallory')}", timeout=10,
                                     skip_utf8_validation=True)
    try:
        try:
            ws.send(payload, opcode)
            answer = ws.recv_data(control_frame=True)
        except ConnectionResetError:
            # The service closes 1009 on the first bytes of an oversized frame; the kernel resets
            # the connection when the rest of the frame arrives unread, and the client may lose
            # the close frame to that reset. Only an oversized frame may end this way.
            assert len(payload) > MAX_FRAME, f"reset after a {len(payload)}-byte frame"
            return websocket.ABNF.OPCODE_CLOSE, p.CLOSE_TOO_BIG.to_bytes(2, "big")
        if answer[0] == TEXT:
            ws.send('{"type":"ping"}')
            assert json.loads(ws.recv())["type"] == "pong", "the socket stopped answering after a text answer"
        return answer
    finally:
        ws.close()


def assert_defined(opcode: int, data: bytes) -> None:
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        code = int.from_bytes(data[:2])
        assert code in CLOSE_CODES, f"closed with {code} {data[2:]!r}"
        return
    assert opcode == TEXT, f"answered with opcode {opcode}"
    frame = parse(data)  # strict: the answer itself must be RFC 8259 JSON
    assert frame["type"] in ANSWER_TYPES, frame
    if frame["type"] == "error":
        assert frame["code"] in ERROR_CODES and frame["message"], frame


def test_fuzzed_frames_get_defined_answers_while_a_control_subscriber_misses_nothing(tmp_path):
    with fuzz_target(tmp_path) as service:
        control = Control(service)

        @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                  database=None)
        @given(FRAMES)
        def one_frame(frame: tuple[int, bytes]) -> None:
            opcode, payload = frame
            assert_defined(*answer_to(service, opcode, payload))
            control.publish("progress", {"progress": min(control.published, 100)})

        one_frame()
        seqs = control.finish()
        assert seqs == list(range(1, control.published + 1))
        assert "Traceback" not in service.log(), "the service logged an unhandled error"
