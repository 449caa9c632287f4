"""Hostile inputs and the contract's answer to each, shared by the memory and the Redis tiers.

Each case is raw bytes as a client would send them: JSON escapes for lone surrogates, literal
NaN and Infinity, nesting far past any real message.
"""

from __future__ import annotations

from dataclasses import dataclass

DEEP = b"[" * 10_000 + b"]" * 10_000
PUBLISH_SCOPES = ("publish",)


@dataclass(frozen=True)
class WsCase:
    name: str
    frame: str
    code: str  # the `error` frame's code


@dataclass(frozen=True)
class HttpCase:
    name: str
    path: str  # POSTed; `{eid}` is a fresh execution id
    body: bytes
    scopes: tuple[str, ...]
    status: int
    code: str


WS_CASES = [
    WsCase("lone surrogate in execution_id", '{"type":"subscribe","execution_id":"\\ud800"}', "bad_json"),
    WsCase("lone low surrogate", '{"type":"ping","x":"\\udc00"}', "bad_json"),
    WsCase("10,000 nested arrays", DEEP.decode(), "bad_json"),
    WsCase("nested objects past the depth bound", '{"a":' * 100 + "1" + "}" * 100, "bad_json"),
    WsCase("NaN", '{"type":"ping","x":NaN}', "bad_json"),
    WsCase("Infinity", '{"type":"subscribe","execution_id":"e-1","last_seq":Infinity}', "bad_json"),
    WsCase("a number too big for a double", '{"type":"ping","x":1e400}', "bad_json"),
]

HTTP_CASES = [
    HttpCase("lone surrogate in brand", "/api/v1/diagnoses", b'{"brand":"\\ud800x"}', ("subscribe",), 400, "bad_json"),
    HttpCase("deep diagnosis body", "/api/v1/diagnoses", DEEP, ("subscribe",), 400, "bad_json"),
    HttpCase("deep publish body", "/api/v1/executions/{eid}/events", DEEP, PUBLISH_SCOPES, 400, "bad_json"),
    HttpCase("lone surrogate in status_text", "/api/v1/executions/{eid}/events",
             b'{"event":"progress","owner":"alice","data":{"progress":1,"status_text":"\\ud800"}}',
             PUBLISH_SCOPES, 400, "bad_json"),
    HttpCase("NaN in data", "/api/v1/executions/{eid}/events",
             b'{"event":"progress","owner":"alice","data":{"progress":1,"v":NaN}}', PUBLISH_SCOPES, 400, "bad_json"),
    HttpCase("Infinity in data", "/api/v1/executions/{eid}/events",
             b'{"event":"progress","owner":"alice","data":{"progress":1,"v":-Infinity}}', PUBLISH_SCOPES, 400,
             "bad_json"),
    HttpCase("invalid UTF-8", "/api/v1/diagnoses", b'{"brand":"\xff\xfe"}', ("subscribe",), 400, "bad_json"),
]
