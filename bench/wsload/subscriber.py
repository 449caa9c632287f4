"""The subscriber side: raw WebSocket clients, many per process, parsing frames in `data_received`.

Written for low CPU per message: asyncio protocols (no future or task per
message), one JSON parse per update frame, latencies appended to flat arrays,
the server's timestamp parsed once per distinct value.
"""

from __future__ import annotations

import array
import asyncio
import base64
import json
import math
import os
import time
from typing import Any

from diagops.bench.wsload.child import command_queue, raise_nofile, use_uvloop
from diagops.bench.wsload.events import UPDATE_PREFIX
from diagops.bench.wsload.target import Target, tokens_for
from diagops.push.protocol import parse_timestamp


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client-to-server frame (RFC 6455 5.3)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    body = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big") if n else b""
    return header + mask + body


class WsClient(asyncio.Protocol):
    """One subscribed socket. Parses server frames straight from `data_received`."""

    def __init__(self, owner: Subscribers, execution_id: str, handshake: bytes, first_frame: bytes | None) -> None:
        self.owner = owner
        self.execution_id = execution_id
        self.handshake = handshake
        self.first_frame = first_frame
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.pending = b""
        self.fragments: list[bytes] | None = None
        self.last_seq = 0
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.handshake)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost before subscribed: {exc}"))
        else:
            self.owner.dropped += 1 if not self.owner.closing else 0

    def _set_ready(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if not self.upgraded:
            data = self.pending + data
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.pending = data
                return
            if not data.startswith(b"HTTP/1.1 101"):
                line = data.split(b"\r\n", 1)[0].decode(errors="replace")
                if not self.ready.done():
                    self.ready.set_exception(ConnectionError(f"upgrade refused: {line}"))
                assert self.transport is not None
                self.transport.close()
                return
            self.upgraded = True
            data = data[end + 4:]
            self.pending = b""
            assert self.transport is not None
            if self.first_frame is not None:
                self.transport.write(self.first_frame)
            else:
                self._set_ready()
            if not data:
                return
        elif self.pending:
            data = self.pending + data
        n = len(data)
        i = 0
        owner = self.owner
        while n - i >= 2:
            b0 = data[i]
            b1 = data[i + 1]
            length = b1 & 0x7F
            h = 2
            if length == 126:
                if n - i < 4:
                    break
                length = int.from_bytes(data[i + 2:i + 4], "big")
                h = 4
            elif length == 127:
                if n - i < 10:
                    break
                length = int.from_bytes(data[i + 2:i + 10], "big")
                h = 10
            if b1 & 0x80:  # servers never mask; skip the key if one does
                h += 4
            if n - i < h + length:
                break
            payload = data[i + h:i + h + length]
            i += h + length
            opcode = b0 & 0x0F
            if opcode in (1, 2):
                if b0 & 0x80:
                    owner.on_message(self, payload, now)
                else:
                    self.fragments = [payload]
            elif opcode == 0 and self.fragments is not None:
                self.fragments.append(payload)
                if b0 & 0x80:
                    whole, self.fragments = b"".join(self.fragments), None
                    owner.on_message(self, whole, now)
            elif opcode == 9:
                self.transport.write(client_frame(10, payload))  # type: ignore[union-attr]
            elif opcode == 8:
                owner.server_closes += 1
                if not self.closed:
                    self.transport.write(client_frame(8, payload[:2]))  # type: ignore[union-attr]
                    self.transport.close()  # type: ignore[union-attr]
        self.pending = data[i:] if i < n else b""

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            try:
                self.transport.write(client_frame(8, (1000).to_bytes(2, "big")))
            finally:
                self.transport.close()


class Subscribers:
    """All sockets of one client process and what they measured."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.sub_token, _ = tokens_for(target)
        self.conns: list[WsClient] = []
        self.t0 = math.inf
        self.t1 = math.inf
        self.received = 0
        self.in_window = 0
        self.gaps = 0
        self.dups = 0
        self.errors: dict[str, int] = {}
        self.dropped = 0
        self.server_closes = 0
        self.closing = False
        self.lat_server = array.array("d")
        self.lat_client = array.array("d")
        self._ts_cache: dict[str, float] = {}

    def on_message(self, conn: WsClient, payload: bytes, now: float) -> None:
        if payload.startswith(UPDATE_PREFIX):
            msg = json.loads(payload)
            seq = msg["seq"]
            last = conn.last_seq
            if last:
                if seq > last + 1:
                    self.gaps += seq - last - 1
                elif seq <= last:
                    self.dups += 1
                    return
            conn.last_seq = seq
            self.received += 1
            if self.t0 <= now < self.t1:
                self.in_window += 1
                ts = msg["timestamp"]
                accepted = self._ts_cache.get(ts)
                if accepted is None:
                    if len(self._ts_cache) > 50_000:
                        self._ts_cache.clear()
                    accepted = self._ts_cache[ts] = parse_timestamp(ts)
                self.lat_server.append(now - accepted)
                self.lat_client.append(now - msg["data"]["sent_at"])
            return
        msg = json.loads(payload)
        kind = msg.get("type")
        if kind == "subscribed":
            conn._set_ready()
        elif kind == "error":
            code = str(msg.get("code"))
            self.errors[code] = self.errors.get(code, 0) + 1
            if not conn.ready.done():
                conn.ready.set_exception(ConnectionError(f"subscribe refused: {code}"))

    def _handshake(self, execution_id: str) -> tuple[bytes, bytes | None]:
        t = self.target
        key = base64.b64encode(os.urandom(16)).decode()
        if t.kind == "diagops":
            path, extra = "/ws", f"Authorization: Bearer {self.sub_token}\r\n"
            first = client_frame(1, json.dumps({"type": "subscribe", "execution_id": execution_id, "last_seq": 1}).encode())
        else:
            path, extra, first = f"/sub?id={execution_id}", "", None
        request = (f"GET {path} HTTP/1.1\r\nHost: {t.host}:{t.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n")
        return request.encode(), first

    async def open(self, execution_ids: list[str], concurrency: int, timeout: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)
        failures: dict[str, int] = {}
        started = time.monotonic()

        async def one(execution_id: str) -> None:
            async with gate:
                handshake, first = self._handshake(execution_id)
                try:
                    _, proto = await asyncio.wait_for(loop.create_connection(
                        lambda: WsClient(self, execution_id, handshake, first), self.target.host, self.target.port), timeout)
                    self.conns.append(proto)
                    await asyncio.wait_for(proto.ready, timeout)
                except (OSError, asyncio.TimeoutError, ConnectionError) as exc:
                    reason = str(exc).split(":")[0][:60] or type(exc).__name__
                    failures[reason] = failures.get(reason, 0) + 1

        await asyncio.gather(*(one(e) for e in execution_ids))
        return {"opened": len(execution_ids) - sum(failures.values()), "failed": failures,
                "seconds": time.monotonic() - started}

    def report(self) -> dict[str, Any]:
        return {
            "received": self.received, "in_window": self.in_window, "gaps": self.gaps, "dups": self.dups,
            "errors": dict(self.errors), "dropped": self.dropped, "server_closes": self.server_closes,
            "open": sum(1 for c in self.conns if not c.closed),
            "lat_server": self.lat_server, "lat_client": self.lat_client,
        }

    async def close_all(self) -> None:
        self.closing = True
        for conn in self.conns:
            conn.close()
        await asyncio.sleep(0.2)


def subscriber_main(pipe: Any, target: Target) -> None:
    """Entry point of a subscriber process: obeys ("open", ids, conc, timeout), ("window", t0, t1),
    ("report",), ("close",)."""
    raise_nofile()
    use_uvloop()

    async def main() -> None:
        subs = Subscribers(target)
        commands = await command_queue(pipe)
        while True:
            cmd, *args = await commands.get()
            if cmd == "open":
                pipe.send(await subs.open(*args))
            elif cmd == "window":
                subs.t0, subs.t1 = args
            elif cmd == "report":
                pipe.send(subs.report())
            elif cmd == "close":
                await subs.close_all()
                pipe.send("closed")
                return

    asyncio.run(main())
