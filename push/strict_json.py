"""The one JSON reader for what clients send: HTTP bodies and WebSocket frames.

RFC 8259 and nothing more. The standard library takes NaN and Infinity (the service then
stored them and pushed `"v":NaN` to every subscriber, which strict parsers refuse), keeps lone
surrogates in a str (encoding it later failed mid-request with a 500), and recurses until
RecursionError on deep nesting. orjson refuses the first two in the same pass that parses, and
is faster; the depth is bounded here, far below orjson's own 1,024, so nothing downstream that
walks a value (encoders, reprs) can recurse too far. Size is bounded where the bytes are read
(`client_max_size` for bodies, `max_msg_size` for frames), before any parsing.
"""

from __future__ import annotations

from typing import Any

import orjson

MAX_DEPTH = 32  # arrays and objects inside one another; real messages nest 4 or 5 deep


class InvalidJson(ValueError):
    """Not strict JSON; the message says why without echoing the input."""


def parse(data: bytes | str) -> Any:
    """The value of strict JSON text, or InvalidJson. Text with too few brackets to reach the
    depth bound (every real message) is not walked again after parsing."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(str(exc)) from None
    if _brackets(data) > MAX_DEPTH and _deeper_than(value, MAX_DEPTH):
        raise InvalidJson(f"nested deeper than {MAX_DEPTH} levels")
    return value


def _brackets(data: bytes | str) -> int:
    if isinstance(data, str):
        return data.count("[") + data.count("{")
    return data.count(b"[") + data.count(b"{")


def _deeper_than(value: Any, limit: int) -> bool:
    """Iterative, so a value as deep as orjson allows cannot overflow the Python stack here."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
