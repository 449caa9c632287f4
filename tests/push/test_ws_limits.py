"""Limits that protect everyone: slow readers, silent clients, connection floods."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket

import aiohttp
import pytest

from diagops.push.protocol import CLOSE_HEARTBEAT
from tests.push.wsutil import (eventually, last_server_frame, masked_text_frame, raw_handshake, recv_json, updates,
                               watch_to_end)


async def _raw_client_that_never_reads(port: int, execution_id: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A real WebSocket client that subscribes and then stops reading (tiny receive buffer) until
    its transport's reading is resumed."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    await raw_handshake(reader, writer, port)
    writer.write(masked_text_frame(json.dumps({"type": "subscribe", "execution_id": execution_id})))
    writer.transport.pause_reading()  # from here on it reads nothing
    return reader, writer


async def test_a_client_that_stops_reading_is_closed_slow_and_nobody_else_waits(start_service):
    svc = await start_service(**{"limits.max_send_queue_bytes": 64 * 1024, "store.max_events_per_execution": 5000})
    state = svc.state
    await state.publish("e-flood", "progress", {"progress": 0, "stage": "queued"}, owner="alice")
    reader = await svc.connect()
    await reader.send_json({"type": "subscribe", "execution_id": "e-flood"})
    assert (await recv_json(reader))["type"] == "subscribed"
    _, stuck = await _raw_client_that_never_reads(svc.server.port, "e-flood")
    await eventually(lambda: sum(len(state.hub.subscriptions(c)) for c in state.connections) == 2, what="both subscribed")

    pad = "x" * 20_000
    received = 0
    for i in range(1, 600):
        await state.publish("e-flood", "progress", {"progress": 0, "stage": "queued", "pad": pad})
        while received < i:  # the healthy reader keeps up, one event at a time
            frame = await recv_json(reader)
            received += frame.get("type") == "diagnosis_update"
        if state.metrics.slow_consumer_disconnects._value.get() == 1:
            break
    assert state.metrics.slow_consumer_disconnects._value.get() == 1, "the stuck client was never closed"
    await eventually(lambda: len(state.connections) == 1, what="the stuck client to be dropped")
    assert state.metrics.ws_disconnections.labels("slow")._value.get() == 1
    stuck.close()


async def test_a_slow_consumer_that_reads_again_finds_the_close_1008_slow_after_its_frames(start_service):
    svc = await start_service(**{"limits.max_send_queue_bytes": 64 * 1024, "store.max_events_per_execution": 5000})
    state = svc.state
    await state.publish("e-slow", "progress", {"progress": 0, "stage": "queued"}, owner="alice")
    reader, writer = await _raw_client_that_never_reads(svc.server.port, "e-slow")
    await eventually(lambda: sum(len(state.hub.subscriptions(c)) for c in state.connections) == 1, what="subscribed")
    pad = "x" * 20_000
    for _ in range(600):
        await state.publish("e-slow", "progress", {"progress": 0, "stage": "queued", "pad": pad})
        if state.metrics.slow_consumer_disconnects._value.get():
            break
    writer.transport.resume_reading()
    data = await asyncio.wait_for(reader.read(-1), 10)  # everything up to the server's end of the stream
    opcode, payload = last_server_frame(data)
    assert opcode == 0x8, f"the stream ended without a close frame ({len(data)} bytes read)"
    assert int.from_bytes(payload[:2]) == 1008 and payload[2:] == b"slow"
    writer.close()


async def test_a_client_that_never_answers_pings_is_closed_4008(start_service):
    svc = await start_service(**{"heartbeat.interval_s": 0.1, "heartbeat.timeout_s": 0.3})
    silent = await svc.connect(autoping=False)
    polite = await svc.connect(autoping=False)
    polite_frames: list[dict] = []
    pings_answered = 0

    async def keep_reading() -> None:
        nonlocal pings_answered
        while True:
            msg = await polite.receive()
            if msg.type == aiohttp.WSMsgType.PING:
                await polite.pong(msg.data)
                pings_answered += 1
            elif msg.type == aiohttp.WSMsgType.TEXT:
                polite_frames.append(json.loads(msg.data))
            else:
                return

    reader = asyncio.create_task(keep_reading())
    closed = None
    while closed is None:
        msg = await silent.receive(timeout=5)
        if msg.type == aiohttp.WSMsgType.CLOSE:
            closed = msg
    assert closed.data == CLOSE_HEARTBEAT
    assert svc.state.metrics.heartbeat_timeouts._value.get() == 1
    # Several heartbeat rounds later the polite client is still served.
    await eventually(lambda: pings_answered >= 4, what="four heartbeat rounds on the polite client")
    rounds = svc.state.metrics.heartbeat_timeouts._value.get()
    await polite.send_json({"type": "ping"})
    await eventually(lambda: any(f["type"] == "pong" for f in polite_frames), what="the polite client's pong")
    await eventually(lambda: len(svc.state.connections) == 1, what="only the silent client to be gone")
    assert svc.state.metrics.heartbeat_timeouts._value.get() == rounds
    assert not polite.closed
    reader.cancel()


async def _refused_upgrade(svc) -> tuple[int, dict, str | None]:
    """A WebSocket upgrade sent as a plain HTTP request, so that a refusal's body can be read
    (a WebSocket client raises on the status and drops the body)."""
    headers = {**svc.auth(), "Upgrade": "websocket", "Connection": "Upgrade",
               "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(), "Sec-WebSocket-Version": "13"}
    async with svc.session.get(svc.ws_url.replace("ws://", "http://", 1), headers=headers) as resp:
        assert resp.status != 101, "the upgrade was accepted"
        return resp.status, await resp.json(), resp.headers.get("Retry-After")


async def test_new_connections_beyond_the_rate_get_429(start_service):
    svc = await start_service(**{"limits.connection_rate": 0.01, "limits.connection_burst": 2})
    kept = [await svc.connect(), await svc.connect()]
    assert await _refused_upgrade(svc) == (
        429, {"error": {"code": "rate_limited", "message": "too many new connections from this address"}}, "1")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # and a real client sees the same
        await svc.connect()
    assert (refused.value.status, refused.value.headers["Retry-After"]) == (429, "1")
    assert svc.state.metrics.ws_refused.labels("rate")._value.get() == 2
    await kept[0].send_json({"type": "ping"})
    assert (await recv_json(kept[0]))["type"] == "pong"


async def test_connections_beyond_the_total_get_503_until_one_leaves(start_service):
    svc = await start_service(**{"limits.max_connections": 2})
    first, _second = await svc.connect(), await svc.connect()
    assert await _refused_upgrade(svc) == (
        503, {"error": {"code": "server_full", "message": "the service is at its connection limit"}}, "1")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await svc.connect()
    assert (refused.value.status, refused.value.headers["Retry-After"]) == (503, "1")
    assert svc.state.metrics.ws_refused.labels("capacity")._value.get() == 2
    await first.close()
    await eventually(lambda: len(svc.state.connections) == 1, what="the first socket to be released")
    third = await svc.connect()
    eid = (await svc.start_diagnosis())["execution_id"]
    assert updates(await watch_to_end(third, eid))[-1]["event"] == "complete"
