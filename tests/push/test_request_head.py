"""Before the upgrade: a request head must be complete within `limits.request_head_timeout_s`,
and connections still sending one are bounded by `limits.max_unfinished_connections`."""

from __future__ import annotations

import asyncio
import json
import time

from tests.push.wsutil import eventually, recv_json

HEAD_TIMEOUT = {"limits.request_head_timeout_s": 0.4}


async def _open(svc) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(svc.server.host, svc.server.port)


async def _answer(reader: asyncio.StreamReader, timeout: float = 5.0) -> tuple[int, dict, bytes]:
    """Everything the server sends until it closes: (status, JSON body, raw)."""
    raw = await asyncio.wait_for(reader.read(), timeout)  # read() returns at EOF: the server closed
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body), raw


def _closed(svc, reason: str) -> float:
    return svc.state.metrics.unfinished_closed.labels(reason)._value.get()


async def test_a_connection_that_sends_nothing_is_answered_408_and_closed(start_service):
    svc = await start_service(**HEAD_TIMEOUT)
    reader, writer = await _open(svc)
    began = time.monotonic()
    status, body, _ = await _answer(reader)
    assert status == 408 and body["error"]["code"] == "request_timeout"
    assert 0.3 < time.monotonic() - began < 3
    assert _closed(svc, "timeout") == 1
    writer.close()


async def test_slowloris_headers_never_get_their_upgrade(start_service):
    svc = await start_service(**HEAD_TIMEOUT)
    reader, writer = await _open(svc)
    began = time.monotonic()
    writer.write(f"GET /ws?token={svc.token()} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n".encode())
    trickle = b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" * 50
    answer = asyncio.create_task(_answer(reader))
    for byte in trickle:  # the attack: one byte at a time, slower than any real client
        if answer.done():
            break
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            break
        await asyncio.sleep(0.02)
    status, body, raw = await answer
    assert status == 408 and b"101" not in raw.split(b"\r\n", 1)[0]
    assert time.monotonic() - began < 3  # well before the ~2 s of trickle would have finished the head
    assert len(svc.state.connections) == 0
    writer.close()


async def test_unfinished_connections_have_a_limit_of_their_own(start_service):
    svc = await start_service(**{"limits.max_unfinished_connections": 3, "limits.request_head_timeout_s": 30})
    held = [await _open(svc) for _ in range(3)]
    for _, writer in held:
        writer.write(b"GET /healthz HTTP/1.1\r\nHo")  # started, never finished
        await writer.drain()
    reader, writer = await _open(svc)
    status, body, raw = await _answer(reader)
    assert status == 503 and body["error"]["code"] == "server_full" and b"Retry-After: 1" in raw
    assert _closed(svc, "limit") == 1
    # Finished requests and upgraded sockets are not unfinished: they still get in...
    for _, held_writer in held:
        held_writer.close()
    await eventually(lambda: _gets_in(svc), what="a new request to be let in once the held ones closed")
    writer.close()


async def _gets_in(svc) -> bool:
    async with svc.session.get(f"{svc.url}/healthz") as resp:
        return resp.status == 200


async def test_a_socket_and_a_kept_alive_connection_outlive_the_head_deadline(start_service):
    svc = await start_service(**HEAD_TIMEOUT)
    ws = await svc.connect()
    async with svc.session.get(f"{svc.url}/healthz") as resp:
        assert resp.status == 200
    await asyncio.sleep(0.6)  # longer than the head deadline, on purpose: nothing may time out
    await ws.send_json({"type": "ping"})
    assert (await recv_json(ws))["type"] == "pong"
    async with svc.session.get(f"{svc.url}/healthz") as resp:  # the same kept-alive connection
        assert resp.status == 200
    assert _closed(svc, "timeout") == 0
    await ws.close()
