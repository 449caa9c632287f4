"""The publisher side: events posted over a pool of keep-alive HTTP/1.1 connections on a fixed schedule.

One process, separate from the subscribers, so publishing and receiving do not
share a CPU budget. For diagops it posts to the publish API (the service sets
`seq` and `timestamp`); for Nchan it posts the very frame diagops would push.
"""

from __future__ import annotations

import array
import asyncio
import json
import time
from typing import Any

from diagops.bench.wsload.child import command_queue, raise_nofile, use_uvloop
from diagops.bench.wsload.events import event_data
from diagops.bench.wsload.stats import percentiles
from diagops.bench.wsload.target import Target, tokens_for
from diagops.push.protocol import update_message, utc_timestamp


class HttpConn(asyncio.Protocol):
    """A keep-alive HTTP/1.1 connection: one request at a time, status code back."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.body = b""  # the last response's body
        self.waiter: asyncio.Future[int] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(buf[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            total = end + 4 + int(head[at + 17:stop if stop >= 0 else None])
        elif b"transfer-encoding: chunked" in head:
            last = buf.find(b"0\r\n\r\n", end + 4)
            if last < 0:
                return
            total = last + 5
        else:
            total = end + 4
        if len(buf) < total:
            return
        status = int(head[9:12])
        self.body = bytes(buf[end + 4:total])
        del buf[:total]
        waiter, self.waiter = self.waiter, None
        if not waiter.done():
            waiter.set_result(status)

    async def request(self, data: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


class Publisher:
    def __init__(self, target: Target, pool_size: int) -> None:
        self.target = target
        _, self.pub_token = tokens_for(target)
        self.pool_size = pool_size
        self.pool: asyncio.Queue[HttpConn] = asyncio.Queue()
        self.seq: dict[str, int] = {}

    async def _connect(self) -> HttpConn:
        _, conn = await asyncio.get_running_loop().create_connection(HttpConn, self.target.host, self.target.port)
        return conn

    async def start(self) -> None:
        for conn in await asyncio.gather(*(self._connect() for _ in range(self.pool_size))):
            self.pool.put_nowait(conn)

    def _post(self, path: str, body: Any, auth: str) -> bytes:
        t = self.target
        payload = json.dumps(body, separators=(",", ":")).encode()
        return (f"POST {path} HTTP/1.1\r\nHost: {t.host}:{t.port}\r\n{auth}Content-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload

    def _request(self, execution_id: str, sent_at: float, pad: str, owner: bool) -> bytes:
        t = self.target
        if t.kind == "diagops":
            body: dict[str, Any] = {"event": "progress", "data": event_data(sent_at, pad)}
            if owner:
                body["owner"] = t.owner
            path, auth = f"/api/v1/executions/{execution_id}/events", f"Authorization: Bearer {self.pub_token}\r\n"
        else:
            seq = self.seq[execution_id] = self.seq.get(execution_id, 0) + 1
            body = update_message(execution_id, seq, utc_timestamp(sent_at), "progress", event_data(sent_at, pad))
            path, auth = f"/pub?id={execution_id}", ""
        return self._post(path, body, auth)

    async def publish(self, execution_id: str, pad: str, owner: bool = False) -> tuple[int, float, float]:
        """(status, sent_at, round trip); status 0 when the connection failed."""
        conn = await self.pool.get()
        sent_at = time.time()
        try:
            if conn.lost:
                conn = await self._connect()
            status = await conn.request(self._request(execution_id, sent_at, pad, owner))
        except (OSError, ConnectionError):
            status = 0
            try:
                conn = await self._connect()
            except OSError:
                pass
        self.pool.put_nowait(conn)
        return status, sent_at, time.time() - sent_at

    async def setup(self, execution_ids: list[str], pad: str) -> dict[str, Any]:
        """diagops: create each execution with a first event carrying the owner (subscribing needs it)."""
        if self.target.kind != "diagops":
            return {"created": 0, "errors": 0}
        results = await asyncio.gather(*(self.publish(e, pad, owner=True) for e in execution_ids))
        errors = sum(1 for status, _, _ in results if status != 202)
        return {"created": len(results) - errors, "errors": errors}

    async def run(self, execution_ids: list[str], pad: str, period_s: float, t_start: float, t_stop: float,
                  t0: float, t1: float) -> dict[str, Any]:
        """Publish on a fixed schedule: execution i at t_start + i*period/E + k*period."""
        if self.target.publish != "http":
            return await GroupedPublisher(self).run(execution_ids, pad, period_s, t_start, t_stop, t0, t1)
        count = len(execution_ids)
        step = period_s / count
        ok_by_execution = [0] * count
        statuses: dict[int, int] = {}
        lag = array.array("d")
        rtt = array.array("d")
        in_window = 0
        tasks: set[asyncio.Task[None]] = set()

        async def one(index: int, due: float) -> None:
            nonlocal in_window
            status, sent_at, took = await self.publish(execution_ids[index], pad)
            statuses[status] = statuses.get(status, 0) + 1
            if 200 <= status < 300:
                ok_by_execution[index] += 1
                if t0 <= due < t1:
                    in_window += 1
            lag.append(sent_at - due)
            rtt.append(took)

        n = 0
        loop = asyncio.get_running_loop()
        while True:
            due = t_start + n * step
            if due >= t_stop:
                break
            now = time.time()
            if due > now + 0.0005:  # the loop's timers have ~1 ms resolution: fire what is due within 0.5 ms
                await asyncio.sleep(due - now)
                continue
            task = loop.create_task(one(n % count, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        scheduled = n
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=10.0)
            for task in late:
                task.cancel()
        return {
            "scheduled": scheduled, "ok": sum(ok_by_execution), "ok_by_execution": ok_by_execution,
            "in_window": in_window, "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "lag_ms": percentiles(lag, 1000.0), "rtt_ms": percentiles(rtt, 1000.0),
        }


class GroupedPublisher:
    """The same schedule, but every event due within one tick leaves together: one
    POST /api/v1/events (mode "batch", split at MAX_BATCH items) or a burst of pipelined publish
    frames on one socket (mode "ws"). This is how an engine with many diagnoses in flight
    publishes; the tick bounds the delay it adds."""

    TICK_S = 0.002
    MAX_BATCH = 1000

    def __init__(self, http: Publisher) -> None:
        self.http = http
        self.mode = http.target.publish
        self.statuses: dict[int, int] = {}
        self.lag = array.array("d")
        self.rtt = array.array("d")
        self.in_window = 0
        self.ok_by_execution: list[int] = []
        self.window = (0.0, 0.0)

    def _done(self, index: int, due: float, sent_at: float, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            self.ok_by_execution[index] += 1
            if self.window[0] <= due < self.window[1]:
                self.in_window += 1
        self.lag.append(sent_at - due)

    async def _batch(self, items: list[tuple[int, float]], execution_ids: list[str], pad: str) -> None:
        conn = await self.http.pool.get()
        sent_at = time.time()
        events = [{"execution_id": execution_ids[i], "event": "progress", "data": event_data(sent_at, pad)}
                  for i, _ in items]
        try:
            status = await conn.request(self.http._post("/api/v1/events", {"events": events},
                                                        f"Authorization: Bearer {self.http.pub_token}\r\n"))
            results = json.loads(conn.body)["results"] if status == 200 else [{"status": status}] * len(items)
        except (OSError, ConnectionError, ValueError):
            results = [{"status": 0}] * len(items)
            conn = await self.http._connect()
        self.http.pool.put_nowait(conn)
        self.rtt.append(time.time() - sent_at)
        for (index, due), result in zip(items, results):
            self._done(index, due, sent_at, 202 if "seq" in result else int(result.get("status", 0)))

    async def run(self, execution_ids: list[str], pad: str, period_s: float, t_start: float, t_stop: float,
                  t0: float, t1: float) -> dict[str, Any]:
        import aiohttp

        count = len(execution_ids)
        step = period_s / count
        self.ok_by_execution = [0] * count
        self.window = (t0, t1)
        tasks: set[asyncio.Task[None]] = set()
        session = aiohttp.ClientSession()
        ws = None
        pending: dict[str, tuple[int, float, float]] = {}
        reader = None
        if self.mode == "ws":
            t = self.http.target
            ws = await session.ws_connect(f"ws://{t.host}:{t.port}/ws", max_msg_size=0,
                                          headers={"Authorization": f"Bearer {self.http.pub_token}"})

            async def read_acks() -> None:
                async for msg in ws:  # type: ignore[union-attr]
                    answer = json.loads(msg.data)
                    index, due, sent_at = pending.pop(answer["ref"])
                    self.rtt.append(time.time() - sent_at)
                    self._done(index, due, sent_at, 202 if answer["type"] == "published" else 422)

            reader = asyncio.get_running_loop().create_task(read_acks())
        n = 0
        ref = 0
        loop = asyncio.get_running_loop()
        while True:
            now = time.time()
            due = t_start + n * step
            if due >= t_stop:
                break
            if due > now:
                await asyncio.sleep(max(due - now, self.TICK_S))
                continue
            group: list[tuple[int, float]] = []
            while due <= now and due < t_stop and len(group) < self.MAX_BATCH:
                group.append((n % count, due))
                n += 1
                due = t_start + n * step
            if ws is not None:
                sent_at = time.time()
                for index, due_at in group:
                    ref += 1
                    pending[str(ref)] = (index, due_at, sent_at)
                    await ws.send_str(json.dumps({"type": "publish", "ref": str(ref), "execution_id": execution_ids[index],
                                                  "event": "progress", "data": event_data(sent_at, pad)},
                                                 separators=(",", ":")))
            else:
                task = loop.create_task(self._batch(group, execution_ids, pad))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        scheduled = n
        deadline = time.time() + 10.0
        while (tasks or pending) and time.time() < deadline:
            await asyncio.sleep(0.01)
        for task in tasks:
            task.cancel()
        if reader is not None:
            reader.cancel()
        if ws is not None:
            await ws.close()
        await session.close()
        return {
            "scheduled": scheduled, "ok": sum(self.ok_by_execution), "ok_by_execution": self.ok_by_execution,
            "in_window": self.in_window, "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "lag_ms": percentiles(self.lag, 1000.0), "rtt_ms": percentiles(self.rtt, 1000.0),
        }


def publisher_main(pipe: Any, target: Target, pool_size: int) -> None:
    """Entry point of the publisher process: ("setup", ids, pad), ("run", ...), ("exit",)."""
    raise_nofile()
    use_uvloop()

    async def main() -> None:
        publisher = Publisher(target, pool_size)
        await publisher.start()
        commands = await command_queue(pipe)
        while True:
            cmd, *args = await commands.get()
            if cmd == "setup":
                pipe.send(await publisher.setup(*args))
            elif cmd == "run":
                pipe.send(await publisher.run(*args))
            else:
                pipe.send("bye")
                return

    asyncio.run(main())
