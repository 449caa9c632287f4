"""Reading frames from a test client with deadlines."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any, Callable

import aiohttp

from tests.servicekit import token
from tests.waiting import eventually  # noqa: F401 - the push tests' one import for it


async def recv_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, f"expected a text frame, got {msg.type} {msg.data!r} {msg.extra!r}"
    return json.loads(msg.data)


async def recv_until(ws: aiohttp.ClientWebSocketResponse, done: Callable[[dict[str, Any]], bool],
                     timeout: float = 10.0) -> list[dict[str, Any]]:
    """Every frame up to and including the first for which `done` is true."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            frame = await recv_json(ws, timeout)
            frames.append(frame)
            if done(frame):
                return frames


def is_final(frame: dict[str, Any]) -> bool:
    return frame.get("type") == "diagnosis_update" and frame.get("event") in ("complete", "error")


async def watch_to_end(ws: aiohttp.ClientWebSocketResponse, execution_id: str, last_seq: int = 0,
                       timeout: float = 10.0) -> list[dict[str, Any]]:
    """Subscribe and collect frames until the final event; returns all frames."""
    await ws.send_json({"type": "subscribe", "execution_id": execution_id, "last_seq": last_seq})
    return await recv_until(ws, is_final, timeout)


def updates(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f.get("type") == "diagnosis_update"]



def masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


def last_server_frame(data: bytes) -> tuple[int, bytes]:
    """(opcode, payload) of the last of the unmasked frames a server sent (RFC 6455 5.2)."""
    last = (0, b"")
    at = 0
    while at + 2 <= len(data):
        n, at_payload = data[at + 1] & 0x7F, at + 2
        if n == 126:
            n, at_payload = int.from_bytes(data[at + 2:at + 4]), at + 4
        elif n == 127:
            n, at_payload = int.from_bytes(data[at + 2:at + 10]), at + 10
        last = (data[at] & 0x0F, data[at_payload:at_payload + n])
        at = at_payload + n
    return last


async def raw_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int,
                        user: str = "alice") -> None:
    """Upgrade a raw TCP connection to /ws by hand, for tests that write frames byte by byte."""
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (f"GET /ws?token={token(user)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101"), head
