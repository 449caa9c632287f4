"""Raw frames, as no WebSocket library would send them: unmasked (RFC 6455 5.1: close 1002), and
text that is not UTF-8 (close 1007)."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from tests.push.wsutil import eventually, last_server_frame, masked_text_frame, raw_handshake


async def _upgraded(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await raw_handshake(reader, writer, port)
    return reader, writer


def _unmasked_text_frame(text: str) -> bytes:
    payload = text.encode()
    return bytes([0x81, len(payload)]) + payload


PING = json.dumps({"type": "ping"})


@pytest.mark.parametrize("split", [False, True], ids=["one write", "header split across writes"])
async def test_an_unmasked_frame_closes_the_socket_1002(service, split):
    reader, writer = await _upgraded(service.server.port)
    bad = _unmasked_text_frame(PING)
    if split:
        writer.write(masked_text_frame(PING) + bad[:1])
        await writer.drain()
        await asyncio.sleep(0.05)  # a real gap between the two reads, so the header spans them
        writer.write(bad[1:])
    else:
        writer.write(masked_text_frame(PING) + bad)
    data = await asyncio.wait_for(reader.read(), 5)  # until the server closes the connection
    opcode, payload = last_server_frame(data)
    assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == 1002
    # The masked ping read before the unmasked frame arrived was answered; the unmasked one never is.
    # (Frames that arrive in the same read as a protocol error are dropped with it, as aiohttp does.)
    assert data.count(b'"pong"') == (1 if split else 0)
    await eventually(lambda: service.state.metrics.ws_disconnections.labels("protocol")._value.get() == 1,
                     what="the close counted as a protocol error")
    writer.close()


async def test_masked_frames_of_every_length_form_still_pass(service):
    """7-bit, 16-bit and 64-bit payload lengths (65,536 bytes is the largest frame accepted): the
    header reader skips each payload exactly, so every ping after them is answered."""
    reader, writer = await _upgraded(service.server.port)
    empty = len(json.dumps({"type": "ping", "pad": ""}))
    frames = []
    for size in (40, 300, 65_536):
        payload = json.dumps({"type": "ping", "pad": "x" * (size - empty)}).encode()
        assert len(payload) == size
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        if size < 126:
            header = bytes([0x81, 0x80 | size])
        elif size < 65536:
            header = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
        else:
            header = bytes([0x81, 0x80 | 127]) + size.to_bytes(8, "big")
        frames.append(header + mask + body)
    writer.write(b"".join(frames) + masked_text_frame(PING))
    data = b""
    while data.count(b'"pong"') < 4:
        data += await asyncio.wait_for(reader.read(4096), 5)
    assert service.state.metrics.ws_disconnections.labels("protocol")._value.get() == 0
    writer.close()


async def test_a_text_frame_that_is_not_utf8_closes_1007(service):
    reader, writer = await _upgraded(service.server.port)
    payload, mask = b'{"type":"ping","x":"\xff\xfe"}', os.urandom(4)
    writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    data = await asyncio.wait_for(reader.read(), 5)
    opcode, close = last_server_frame(data)
    assert opcode == 0x8 and int.from_bytes(close[:2], "big") == 1007
    writer.close()
