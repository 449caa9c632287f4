"""A real TCP proxy between the load generator and the service, for injecting network faults.

Runs its own asyncio loop in a thread. It can delay what the service
sends down WebSockets (so push delivery latency really grows), and it can cut every WebSocket
connection each time `drop_every_bytes` bytes went down WebSockets since the
last cut (so clients really see resets mid-stream and must resume with
`last_seq`), at most `max_drops` times. HTTP connections are left alone: a cut
there would fail a start request, which is another test's business.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field


@dataclass(eq=False)  # hashed by identity: kept in a set of live pairs
class _Pair:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    websocket: bool = False


@dataclass
class ProxyStats:
    connections: int = 0
    websockets: int = 0
    drops: int = 0
    websockets_cut: int = 0
    bytes_down: int = 0
    cut_sizes: list[int] = field(default_factory=list)


class FaultProxy:
    def __init__(self, target_port: int, *, delay_s: float = 0.0, drop_every_bytes: int = 0, max_drops: int = 0) -> None:
        self.target_port = target_port
        self.delay_s = delay_s
        self.drop_every_bytes = drop_every_bytes
        self.max_drops = max_drops
        self.stats = ProxyStats()
        self.port = 0
        self._pairs: set[_Pair] = set()
        self._ws_bytes_since_drop = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _start(self) -> asyncio.base_events.Server:
        return await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for pair in list(self._pairs):
            pair.client.transport.abort()
            pair.upstream.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        pair = _Pair(client_writer, up_writer)
        self._pairs.add(pair)
        self.stats.connections += 1
        try:
            await asyncio.gather(self._upward(client_reader, pair), self._downward(up_reader, pair))
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            self._pairs.discard(pair)
            client_writer.transport.abort()
            up_writer.transport.abort()

    async def _upward(self, reader: asyncio.StreamReader, pair: _Pair) -> None:
        first = True
        while chunk := await reader.read(65536):
            if first and chunk.startswith(b"GET /ws"):
                pair.websocket = True
                self.stats.websockets += 1
            first = False
            pair.upstream.write(chunk)
            await pair.upstream.drain()
        pair.upstream.transport.abort()

    async def _downward(self, reader: asyncio.StreamReader, pair: _Pair) -> None:
        # Each chunk is stamped on arrival and leaves delay_s later, in order. Only
        # WebSockets are delayed: a slow HTTP answer would make the client subscribe
        # late, and the events it then gets are honest replays, not slow pushes.
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    return
                await asyncio.sleep(max(due - loop.time(), 0))
                await self._deliver(pair, chunk)

        sender = asyncio.ensure_future(send())
        try:
            while chunk := await reader.read(65536):
                delay = self.delay_s if pair.websocket else 0.0
                queue.put_nowait((loop.time() + delay, chunk))
            queue.put_nowait((loop.time() + self.delay_s, b""))
            await sender
        finally:
            sender.cancel()
        pair.client.transport.abort()

    async def _deliver(self, pair: _Pair, chunk: bytes) -> None:
        if pair.client.transport.is_closing():
            raise ConnectionResetError("client side closed")
        pair.client.write(chunk)
        await pair.client.drain()
        self.stats.bytes_down += len(chunk)
        if pair.websocket:
            self._count_ws_bytes(len(chunk))

    def _count_ws_bytes(self, n: int) -> None:
        if not self.drop_every_bytes or self.stats.drops >= self.max_drops:
            return
        self._ws_bytes_since_drop += n
        if self._ws_bytes_since_drop >= self.drop_every_bytes:
            self._ws_bytes_since_drop = 0
            self.stats.drops += 1
            cut = [p for p in self._pairs if p.websocket]
            self.stats.cut_sizes.append(len(cut))
            for p in cut:
                self.stats.websockets_cut += 1
                p.client.transport.abort()
                p.upstream.transport.abort()
