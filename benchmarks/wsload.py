"""Fan-out load client for WebSocket push servers, and the measurements taken around it.

Importable API (benchmarks/push_bench.py and other benchmarks use these):

- `Target(name, kind, host, port, pids, secret=None)`: a server to load. `kind` is
  "diagops" (subscribe frame over /ws, publish API with a JWT) or "nchan" (WebSocket
  on /sub?id=, HTTP POST on /pub?id=). `pids` are the server processes whose CPU and
  RSS are measured, their child processes included (nginx workers, `serve --workers`).
- `run_fanout(target, sockets, seconds, ...) -> dict`: `sockets` sockets, each
  subscribed to one of `sockets // fanout` executions; every execution gets one
  ~`event_bytes` event per `period_s`, published over HTTP from a separate process;
  after `warmup_s`, a window of `seconds` is measured: delivered messages per second,
  delivery latency (server `timestamp`, ms precision, and the publisher's
  `data.sent_at`, µs precision), server CPU per delivered message, CPU of every
  client process and of the machine, and which side was saturated.
- `measure_idle(target, counts, ...) -> dict`: server RSS per idle subscribed socket.

The client side is written for low CPU per message: raw asyncio protocols on uvloop
(no per-message future or task), one JSON parse per frame, latencies in flat arrays.
Its own CPU is measured and reported with every run, so a saturated client is visible.
"""

from __future__ import annotations

import array
import asyncio
import base64
import json
import math
import multiprocessing as mp
import os
import resource
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import psutil

SATURATED = 0.90  # a process above 90 % of one core is treated as the limit of a run
MACHINE_SATURATED = 0.90  # the whole machine (all cores) above 90 % busy
UPDATE_PREFIX = b'{"type":"diagnosis_update"'


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """A server under load. `pids`: processes measured (with their children)."""

    name: str
    kind: str  # "diagops" | "nchan"
    host: str
    port: int
    pids: tuple[int, ...]
    secret: str | None = None
    owner: str = "bench"  # diagops: the user that owns the executions and subscribes

    def __post_init__(self) -> None:
        if self.kind not in ("diagops", "nchan"):
            raise ValueError(f"unknown target kind {self.kind!r}")
        if self.kind == "diagops" and not self.secret:
            raise ValueError("a diagops target needs the service's JWT secret")


def utc_ms(epoch: float) -> str:
    """The contract's timestamp format (ms precision, Z), as the service writes it."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def raise_nofile(wanted: int | None = None) -> tuple[int, int]:
    """Raise this process's soft open-files limit to the hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if wanted is None or hard == resource.RLIM_INFINITY else min(max(wanted, soft), hard)
    if target != resource.RLIM_INFINITY and target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _tokens(target: Target) -> tuple[str | None, str | None]:
    if target.kind != "diagops":
        return None, None
    from diagops.push.auth import mint_token

    assert target.secret is not None
    return (mint_token(target.secret, target.owner, ("subscribe",), ttl_s=6 * 3600),
            mint_token(target.secret, "bench-engine", ("publish",), ttl_s=6 * 3600))


def event_data(sent_at: float, pad: str) -> dict[str, Any]:
    return {"progress": 50, "stage": "analyzing", "status": "processing", "status_text": pad, "sent_at": sent_at}


def pad_for(execution_id: str, event_bytes: int) -> str:
    """Padding that makes one pushed diagnosis_update frame about `event_bytes` long."""
    sample = json.dumps({
        "type": "diagnosis_update", "execution_id": execution_id, "seq": 100, "timestamp": utc_ms(time.time()),
        "event": "progress", "data": event_data(time.time(), ""),
    }, separators=(",", ":"))
    return "x" * max(0, event_bytes - len(sample))


# --------------------------------------------------------------------------- subscriber side


def _client_frame(opcode: int, payload: bytes) -> bytes:
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


class _WsClient(asyncio.Protocol):
    """One subscribed socket. Parses server frames straight from `data_received`."""

    def __init__(self, owner: _Subscribers, execution_id: str, handshake: bytes, first_frame: bytes | None) -> None:
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
                self.transport.write(_client_frame(10, payload))  # type: ignore[union-attr]
            elif opcode == 8:
                owner.server_closes += 1
                if not self.closed:
                    self.transport.write(_client_frame(8, payload[:2]))  # type: ignore[union-attr]
                    self.transport.close()  # type: ignore[union-attr]
        self.pending = data[i:] if i < n else b""

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            try:
                self.transport.write(_client_frame(8, (1000).to_bytes(2, "big")))
            finally:
                self.transport.close()


class _Subscribers:
    """All sockets of one client process and what they measured."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.sub_token, _ = _tokens(target)
        self.conns: list[_WsClient] = []
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

    def on_message(self, conn: _WsClient, payload: bytes, now: float) -> None:
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
                    accepted = self._ts_cache[ts] = datetime.fromisoformat(ts).timestamp()
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
            first = _client_frame(1, json.dumps({"type": "subscribe", "execution_id": execution_id, "last_seq": 1}).encode())
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
                        lambda: _WsClient(self, execution_id, handshake, first), self.target.host, self.target.port), timeout)
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


def _use_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass


async def _command_queue(pipe: Any) -> asyncio.Queue[Any]:
    """Commands from the parent, read by a thread (watching the pipe from the loop would make its
    socket non-blocking, and a large report would then fail to send)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def read() -> None:
        while True:
            try:
                item = pipe.recv()
            except (EOFError, OSError):
                item = ("close",)
            loop.call_soon_threadsafe(queue.put_nowait, item)
            if item[0] in ("close", "exit"):
                return

    threading.Thread(target=read, name="commands", daemon=True).start()
    return queue


def subscriber_main(pipe: Any, target: Target) -> None:
    """Entry point of a subscriber process: obeys ("open", ids, conc, timeout), ("window", t0, t1),
    ("report",), ("close",)."""
    raise_nofile()
    _use_uvloop()

    async def main() -> None:
        subs = _Subscribers(target)
        commands = await _command_queue(pipe)
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


# --------------------------------------------------------------------------- publisher side


class _HttpConn(asyncio.Protocol):
    """A keep-alive HTTP/1.1 connection: one request at a time, status code back."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
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
        del buf[:total]
        waiter, self.waiter = self.waiter, None
        if not waiter.done():
            waiter.set_result(status)

    async def request(self, data: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


def _percentiles(values: Any, scale: float = 1.0) -> dict[str, float | None]:
    if not len(values):
        return {"p50": None, "p90": None, "p99": None, "p999": None, "max": None, "mean": None, "n": 0}
    ordered = sorted(values)
    n = len(ordered)

    def q(p: float) -> float:
        return round(ordered[min(n - 1, int(p * n))] * scale, 3)

    return {"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "p999": q(0.999), "max": round(ordered[-1] * scale, 3),
            "mean": round(sum(ordered) / n * scale, 3), "n": n}


class _Publisher:
    def __init__(self, target: Target, pool_size: int) -> None:
        self.target = target
        _, self.pub_token = _tokens(target)
        self.pool_size = pool_size
        self.pool: asyncio.Queue[_HttpConn] = asyncio.Queue()
        self.seq: dict[str, int] = {}

    async def _connect(self) -> _HttpConn:
        _, conn = await asyncio.get_running_loop().create_connection(_HttpConn, self.target.host, self.target.port)
        return conn

    async def start(self) -> None:
        for conn in await asyncio.gather(*(self._connect() for _ in range(self.pool_size))):
            self.pool.put_nowait(conn)

    def _request(self, execution_id: str, sent_at: float, pad: str, owner: bool) -> bytes:
        t = self.target
        if t.kind == "diagops":
            body: dict[str, Any] = {"event": "progress", "data": event_data(sent_at, pad)}
            if owner:
                body["owner"] = t.owner
            path, auth = f"/api/v1/executions/{execution_id}/events", f"Authorization: Bearer {self.pub_token}\r\n"
        else:
            seq = self.seq[execution_id] = self.seq.get(execution_id, 0) + 1
            body = {"type": "diagnosis_update", "execution_id": execution_id, "seq": seq, "timestamp": utc_ms(sent_at),
                    "event": "progress", "data": event_data(sent_at, pad)}
            path, auth = f"/pub?id={execution_id}", ""
        payload = json.dumps(body, separators=(",", ":")).encode()
        return (f"POST {path} HTTP/1.1\r\nHost: {t.host}:{t.port}\r\n{auth}Content-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload

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
            "lag_ms": _percentiles(lag, 1000.0), "rtt_ms": _percentiles(rtt, 1000.0),
        }


def publisher_main(pipe: Any, target: Target, pool_size: int) -> None:
    """Entry point of the publisher process: ("setup", ids, pad), ("run", ...), ("exit",)."""
    raise_nofile()
    _use_uvloop()

    async def main() -> None:
        publisher = _Publisher(target, pool_size)
        await publisher.start()
        commands = await _command_queue(pipe)
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


# --------------------------------------------------------------------------- measuring processes


class ProcTree:
    """CPU and RSS of some processes and their children, with the set fixed at `freeze()`."""

    def __init__(self, pids: tuple[int, ...] | list[int]) -> None:
        self.roots = [psutil.Process(p) for p in pids]
        self.procs: list[psutil.Process] = []
        self.freeze()

    def freeze(self) -> None:
        procs: list[psutil.Process] = []
        for root in self.roots:
            try:
                procs.append(root)
                procs.extend(root.children(recursive=True))
            except psutil.NoSuchProcess:
                pass
        self.procs = procs

    def cpu(self) -> float:
        user, system = self.cpu_split()
        return user + system

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds; system is mostly the kernel's share of socket writes."""
        user = system = 0.0
        for proc in self.procs:
            try:
                t = proc.cpu_times()
                user += t.user
                system += t.system
            except psutil.NoSuchProcess:
                pass
        return user, system

    def rss(self) -> int:
        total = 0
        for proc in self.procs:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total


def _machine_busy() -> tuple[float, float]:
    """(busy seconds, total seconds) summed over all CPUs since boot."""
    t = psutil.cpu_times()
    total = sum(t)
    idle = t.idle + getattr(t, "iowait", 0.0)
    return total - idle, total


def _recv(pipe: Any, timeout: float, what: str) -> Any:
    if not pipe.poll(timeout):
        raise TimeoutError(f"no answer from the {what} within {timeout:.0f} s")
    return pipe.recv()


def _sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


@dataclass
class _Clients:
    """The client processes of one run (publisher + subscribers)."""

    target: Target
    subscriber_procs: int
    pool_size: int = 32
    procs: list[Any] = field(default_factory=list)
    sub_pipes: list[Any] = field(default_factory=list)
    pub_pipe: Any = None

    def start(self, with_publisher: bool = True) -> None:
        ctx = mp.get_context("spawn")
        if with_publisher:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=publisher_main, args=(child, self.target, self.pool_size), daemon=True,
                               name="bench-publisher")
            proc.start()
            self.procs.append(proc)
            self.pub_pipe = parent
        for k in range(self.subscriber_procs):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=subscriber_main, args=(child, self.target), daemon=True, name=f"bench-sub-{k}")
            proc.start()
            self.procs.append(proc)
            self.sub_pipes.append(parent)

    @property
    def publisher_pid(self) -> int | None:
        return self.procs[0].pid if self.pub_pipe is not None else None

    @property
    def subscriber_pids(self) -> list[int]:
        return [p.pid for p in self.procs[1 if self.pub_pipe is not None else 0:]]

    def open(self, execution_ids: list[str], concurrency: int = 100, timeout: float = 30.0) -> dict[str, Any]:
        """Open one subscribed socket per id, spread round-robin over the subscriber processes."""
        shares = [execution_ids[k::len(self.sub_pipes)] for k in range(len(self.sub_pipes))]
        per_proc = max(1, concurrency // len(self.sub_pipes))
        for pipe, share in zip(self.sub_pipes, shares):
            pipe.send(("open", share, per_proc, timeout))
        results = [_recv(pipe, timeout * 4 + 60, "subscriber process") for pipe in self.sub_pipes]
        failed: dict[str, int] = {}
        for r in results:
            for reason, n in r["failed"].items():
                failed[reason] = failed.get(reason, 0) + n
        return {"opened": sum(r["opened"] for r in results), "failed": failed,
                "seconds": round(max(r["seconds"] for r in results), 3)}

    def stop(self) -> None:
        for pipe in self.sub_pipes:
            try:
                pipe.send(("close",))
            except (OSError, BrokenPipeError):
                pass
        for pipe in self.sub_pipes:
            try:
                _recv(pipe, 10, "subscriber process")
            except (TimeoutError, EOFError, OSError):
                pass
        if self.pub_pipe is not None:
            try:
                self.pub_pipe.send(("exit",))
                _recv(self.pub_pipe, 10, "publisher process")
            except (TimeoutError, EOFError, OSError):
                pass
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)


def _cpu_entry(seconds: float, window: float, messages: int) -> dict[str, Any]:
    return {"seconds": round(seconds, 3), "core_percent": round(100 * seconds / window, 1),
            "us_per_msg": round(seconds / messages * 1e6, 2) if messages else None}


def limits_of(server_cpu: float, client_cpus: dict[str, float], machine_busy: float, rate_ratio: float,
              publish_lag_p99_ms: float | None = None, period_ms: float = 50.0) -> str:
    """Name the side(s) that limited a run, from CPU shares of one core (server, clients) and of the machine,
    and from how far the publisher fell behind its schedule (a server slow to answer publishes, or a
    publisher short of CPU)."""
    sides = []
    if publish_lag_p99_ms is not None and publish_lag_p99_ms > period_ms:
        sides.append(f"publishes behind schedule (lag p99 {publish_lag_p99_ms:.0f} ms)")
    if server_cpu >= SATURATED:
        sides.append(f"server CPU ({server_cpu:.0%} of a core)")
    for name, share in client_cpus.items():
        if share >= SATURATED:
            sides.append(f"client {name} ({share:.0%} of a core)")
    if machine_busy >= MACHINE_SATURATED:
        sides.append(f"machine ({machine_busy:.0%} of all cores busy)")
    if sides:
        return "; ".join(sides)
    if rate_ratio >= 0.97:
        return "none: target rate delivered"
    if machine_busy >= 0.75:
        return f"behind the target rate; CPU contention ({machine_busy:.0%} of all cores busy)"
    return "behind the target rate; no process saturated"


def run_fanout(
    target: Target,
    sockets: int,
    seconds: float = 10.0,
    *,
    fanout: int = 10,
    period_s: float = 0.05,
    warmup_s: float = 3.0,
    event_bytes: int = 250,
    subscriber_procs: int = 1,
    pool_size: int = 32,
    connect_concurrency: int = 100,
    tag: str | None = None,
    on_window: Any = None,
) -> dict[str, Any]:
    """Fan-out run: `sockets` sockets over `sockets // fanout` executions, one event per `period_s`
    per execution, `seconds` measured after `warmup_s`. Returns every figure in one dict.
    `on_window(t0, t1)`, if given, is called just before the window starts (e.g. to start a profiler)."""
    tag = tag or f"{target.name}-{sockets}-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    executions = max(1, sockets // fanout)
    execution_ids = [f"b-{tag}-{i:05d}" for i in range(executions)]
    pad = pad_for(execution_ids[0], event_bytes)
    server = ProcTree(target.pids)
    clients = _Clients(target, subscriber_procs, pool_size)
    try:
        clients.start()
        clients.pub_pipe.send(("setup", execution_ids, pad))
        setup = _recv(clients.pub_pipe, 60, "publisher")
        if setup["errors"]:
            raise RuntimeError(f"creating {executions} executions failed {setup['errors']} times")
        subscriptions = [execution_ids[j % executions] for j in range(sockets)]
        opened = clients.open(subscriptions, connect_concurrency)
        subs_per_execution = [0] * executions
        for j in range(sockets):
            subs_per_execution[j % executions] += 1
        t_start = time.time() + 0.2
        t0 = t_start + warmup_s
        t1 = t0 + seconds
        t_stop = t1 + 0.3
        for pipe in clients.sub_pipes:
            pipe.send(("window", t0, t1))
        clients.pub_pipe.send(("run", execution_ids, pad, period_s, t_start, t_stop, t0, t1))
        client_trees = {"publisher": ProcTree([clients.publisher_pid])}  # type: ignore[list-item]
        for k, pid in enumerate(clients.subscriber_pids):
            client_trees[f"subscriber-{k}"] = ProcTree([pid])
        if on_window is not None:
            _sleep_until(t0 - 0.5)
            on_window(t0, t1)
        _sleep_until(t0)
        server.freeze()
        user0, sys0 = server.cpu_split()
        cpu0 = user0 + sys0
        clients0 = {name: tree.cpu() for name, tree in client_trees.items()}
        busy0, total0 = _machine_busy()
        wall0 = time.time()
        _sleep_until(t1)
        user1, sys1 = server.cpu_split()
        cpu1 = user1 + sys1
        clients1 = {name: tree.cpu() for name, tree in client_trees.items()}
        busy1, total1 = _machine_busy()
        wall1 = time.time()
        rss = server.rss()
        published = _recv(clients.pub_pipe, t_stop - time.time() + 30, "publisher")
        time.sleep(1.0)  # let the last deliveries arrive before counting losses
        reports = []
        for pipe in clients.sub_pipes:
            pipe.send(("report",))
            reports.append(_recv(pipe, 60, "subscriber process"))
    finally:
        clients.stop()

    window = t1 - t0
    measured = wall1 - wall0
    delivered = sum(r["in_window"] for r in reports)
    lat_server = array.array("d")
    lat_client = array.array("d")
    for r in reports:
        lat_server.extend(r["lat_server"])
        lat_client.extend(r["lat_client"])
    target_rate = sockets / period_s
    expected_total = sum(ok * subs for ok, subs in zip(published["ok_by_execution"], subs_per_execution))
    received_total = sum(r["received"] for r in reports)
    server_share = (cpu1 - cpu0) / measured
    client_shares = {name: (clients1[name] - clients0[name]) / measured for name in client_trees}
    machine_busy = (busy1 - busy0) / max(total1 - total0, 1e-9)
    rate = delivered / window
    return {
        "target": target.name,
        "kind": target.kind,
        "sockets": sockets,
        "executions": executions,
        "fanout": fanout,
        "period_ms": period_s * 1000,
        "event_bytes": event_bytes,
        "frame_bytes_approx": event_bytes,
        "warmup_s": warmup_s,
        "window_s": round(window, 3),
        "connect": opened,
        "target_msgs_per_s": round(target_rate, 1),
        "delivered_in_window": delivered,
        "delivered_msgs_per_s": round(rate, 1),
        "delivered_vs_target": round(rate / target_rate, 4),
        "delivered_vs_published": round(delivered / (published["in_window"] * fanout), 4) if published["in_window"] else None,
        "latency_ms": {
            "server_timestamp": _percentiles(lat_server, 1000.0),
            "client_sent_at": _percentiles(lat_client, 1000.0),
        },
        "server_cpu": {**_cpu_entry(cpu1 - cpu0, measured, delivered),
                       "user_s": round(user1 - user0, 3), "system_s": round(sys1 - sys0, 3)},
        "server_rss_mib": round(rss / 2**20, 1),
        "client_cpu": {name: _cpu_entry(clients1[name] - clients0[name], measured, delivered) for name in client_trees},
        "machine_busy_percent": round(100 * machine_busy, 1),
        # Busy CPU of the machine not spent by the server or this benchmark's clients (other work on a shared box),
        # in % of one core.
        "other_load_core_percent": round(100 * max(0.0, (busy1 - busy0) - (cpu1 - cpu0)
                                                    - sum(clients1[k] - clients0[k] for k in client_trees)) / measured, 1),
        "machine_cores": psutil.cpu_count(),
        "limited_by": limits_of(server_share, client_shares, machine_busy, rate / target_rate,
                                published["lag_ms"]["p99"], period_s * 1000),
        "publish": {k: published[k] for k in ("scheduled", "ok", "in_window", "statuses", "lag_ms", "rtt_ms")},
        "integrity": {
            "expected_deliveries": expected_total,
            "received": received_total,
            "missing": max(0, expected_total - received_total),
            "gaps": sum(r["gaps"] for r in reports),
            "duplicates": sum(r["dups"] for r in reports),
            "frame_errors": _merge([r["errors"] for r in reports]),
            "server_closes": sum(r["server_closes"] for r in reports),
            "dropped_sockets": sum(r["dropped"] for r in reports),
        },
    }


def _merge(dicts: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


def measure_idle(
    target: Target,
    counts: list[int],
    *,
    fanout: int = 10,
    baseline_sockets: int = 100,
    settle_s: float = 2.0,
    subscriber_procs: int = 1,
    connect_concurrency: int = 100,
    tag: str | None = None,
) -> dict[str, Any]:
    """Server RSS per idle subscribed socket: open `baseline_sockets` (warms every code path), take
    the baseline, then grow to each of `counts` and divide the RSS delta by the sockets added.
    Executions are created before the baseline, so their memory is not counted per socket."""
    counts = sorted(counts)
    tag = tag or f"idle-{target.name}-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    executions = max(1, counts[-1] // fanout)
    execution_ids = [f"b-{tag}-{i:05d}" for i in range(executions)]
    pad = pad_for(execution_ids[0], 250)
    server = ProcTree(target.pids)
    clients = _Clients(target, subscriber_procs)
    points = []
    try:
        clients.start()
        clients.pub_pipe.send(("setup", execution_ids, pad))
        setup = _recv(clients.pub_pipe, 120, "publisher")
        if setup["errors"]:
            raise RuntimeError(f"creating {executions} executions failed {setup['errors']} times")
        subscriptions = [execution_ids[j % executions] for j in range(counts[-1])]
        opened = 0
        first = clients.open(subscriptions[:baseline_sockets], connect_concurrency)
        opened = first["opened"]
        time.sleep(settle_s)
        server.freeze()
        base_rss = server.rss()
        base_n = opened
        for count in counts:
            step = clients.open(subscriptions[opened:count], connect_concurrency)
            opened += step["opened"]
            time.sleep(settle_s)
            server.freeze()
            rss = server.rss()
            points.append({
                "sockets": count, "open": opened, "failed": step["failed"], "connect_s": step["seconds"],
                "rss_mib": round(rss / 2**20, 2),
                "kib_per_socket": round((rss - base_rss) / max(opened - base_n, 1) / 1024, 2),
            })
    finally:
        clients.stop()
    return {"target": target.name, "kind": target.kind, "baseline_sockets": base_n,
            "baseline_rss_mib": round(base_rss / 2**20, 2), "points": points}


__all__ = ["Target", "ProcTree", "run_fanout", "measure_idle", "raise_nofile", "limits_of", "utc_ms"]
