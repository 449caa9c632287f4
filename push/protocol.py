"""The wire contract's vocabulary: message types, stages, codes, and frame builders.

One module that clients and the server share, so a name used on the wire is
spelled once.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Any, Final

import orjson

EVENTS: Final = ("progress", "complete", "error")
FINAL_EVENTS: Final = frozenset({"complete", "error"})
STAGES: Final = ("queued", "ai_fetching", "analyzing", "generating_report")
STATUSES: Final = ("queued", "processing", "complete", "error")
ERROR_TYPES: Final = ("AI_PLATFORM_ERROR", "TIMEOUT", "RATE_LIMITED", "INVALID_REQUEST", "INTERNAL")
LANGS: Final = ("zh", "en")

# Frame error codes (server -> client `{"type": "error"}`).
BAD_JSON: Final = "bad_json"
MISSING_FIELD: Final = "missing_field"
INVALID_FIELD: Final = "invalid_field"
UNKNOWN_TYPE: Final = "unknown_type"
NOT_FOUND: Final = "not_found"
FORBIDDEN: Final = "forbidden"
TOO_MANY_SUBSCRIPTIONS: Final = "too_many_subscriptions"

# WebSocket close codes.
CLOSE_GOING_AWAY: Final = 1001  # shutdown: reconnect with last_seq
CLOSE_PROTOCOL_ERROR: Final = 1002  # an unmasked client frame, or another RFC 6455 violation (aiohttp sends it)
CLOSE_POLICY: Final = 1008  # rate limit, slow consumer (reason "slow")
CLOSE_TOO_BIG: Final = 1009
CLOSE_INTERNAL: Final = 1011  # the server failed on a frame; reconnect with last_seq
CLOSE_AUTH: Final = 4001
CLOSE_HEARTBEAT: Final = 4008

# One rule for execution ids at every entrance (publish, poll, events, subscribe), so an id that
# can be published can always be watched, and no id carries a NUL, a newline or a space.
EXECUTION_ID_RULE: Final = "1 to 200 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'"
_EXECUTION_ID = re.compile(r"[A-Za-z0-9._:-]{1,200}")
MAX_EPOCH_CHARS: Final = 64  # a client's `epoch` in subscribe: what the server hands out is far shorter
MAX_AFTER: Final = 2**63 - 1  # `after` and `last_seq` are 64-bit counts, the same for every store

SCOPE_SUBSCRIBE: Final = "subscribe"
SCOPE_PUBLISH: Final = "publish"


def valid_execution_id(value: object) -> bool:
    return isinstance(value, str) and _EXECUTION_ID.fullmatch(value) is not None


_last_stamp: list[Any] = [-1, ""]  # (epoch milliseconds, its text): every event in one ms shares it
_last_second: list[Any] = [-1, ""]  # (epoch second, "YYYY-MM-DDTHH:MM:SS.")


def utc_timestamp(epoch: float | None = None) -> str:
    """ISO 8601 UTC with milliseconds and a Z, as the contract's `timestamp`. Every published
    event is stamped, so the text is built once per millisecond (and its date part once per
    second) instead of a datetime built and formatted per event (5 % of a publish's profile)."""
    ms = int((time.time() if epoch is None else epoch) * 1000)
    if ms == _last_stamp[0]:
        return _last_stamp[1]  # type: ignore[no-any-return]
    second, millis = divmod(ms, 1000)
    if second != _last_second[0]:
        _last_second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))]
    text = f"{_last_second[1]}{millis:03d}Z"
    _last_stamp[:] = [ms, text]
    return text


def parse_timestamp(value: str) -> float:
    """Epoch seconds from a contract timestamp; clients use it for delivery latency, so it is on
    their hot path (fromisoformat is several times faster than strptime)."""
    if not (21 <= len(value) <= 27 and value[10] == "T" and value[19] == "." and value[-1] == "Z"
            and value[20:-1].isdigit()):
        raise ValueError(f"not a contract timestamp (YYYY-MM-DDTHH:MM:SS.mmmZ): {value!r}")
    return datetime.fromisoformat(value).timestamp()


def ws_url_for(base_url: str) -> str:
    """The socket URL of a service from its base URL: http -> ws, https -> wss, plus `/ws`."""
    base = base_url.rstrip("/")
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(http):
            return ws + base[len(http):] + "/ws"
    return base + "/ws"


def update_message(execution_id: str, seq: int, timestamp: str, event: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "diagnosis_update",
        "execution_id": execution_id,
        "seq": seq,
        "timestamp": timestamp,
        "event": event,
        "data": data,
    }


def error_frame(code: str, message: str, execution_id: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if execution_id is not None:
        frame["execution_id"] = execution_id
    return frame


def dumps(obj: Any) -> str:
    """The one JSON encoding used on the wire (compact, UTF-8 kept as is). orjson writes the same
    text several times faster; what it refuses (an integer beyond 64 bits, a non-str key) goes
    through the standard library, so nothing that encoded before fails now."""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
