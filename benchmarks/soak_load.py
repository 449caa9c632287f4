"""The soak's workload, in one asyncio client: N sockets, each watching its own diagnosis after
another, and a publisher posting events at a steady rate over HTTP.

Socket i follows executions `soak-i-0`, `soak-i-1`, ...: each has `events` events (seq 1 creates
it, then progress, then `complete`). Its publisher task posts one step every `interval` seconds,
phase-shifted so the N tasks together keep the rate steady; the step that completes execution k
first creates k+1, so the socket, which subscribes to k+1 as soon as k's `complete` arrives,
always finds it. Every delivered frame is checked against the seq it should carry: a gap is a
loss, a repeat a duplicate, `trimmed` on `subscribed` is counted too (none is expected).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import aiohttp

from diagops.push.protocol import parse_timestamp


@dataclass
class Tally:
    """What the clients saw; the sampler reads and resets `latencies` each interval."""

    published: int = 0
    publish_errors: dict[str, int] = field(default_factory=dict)
    delivered: int = 0
    lost: int = 0
    duplicates: int = 0
    trimmed: int = 0
    not_found: int = 0
    sockets_open: int = 0
    latencies: list[float] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.publish_errors[what] = self.publish_errors.get(what, 0) + 1


@dataclass(frozen=True)
class Workload:
    url: str
    sockets: int
    rate: float  # events per second, all executions together
    events: int  # per execution, `complete` included
    event_bytes: int
    owner: str
    subscribe_token: str
    publish_token: str

    @property
    def interval(self) -> float:
        """Seconds between one socket's publishing steps (the last step of an execution posts two
        events: the next one's first, and this one's `complete`)."""
        return self.sockets * self.events / ((self.events - 1) * self.rate)


def execution_id(socket: int, k: int) -> str:
    return f"soak-{socket}-{k}"


class Soak:
    def __init__(self, workload: Workload) -> None:
        self.w = workload
        self.tally = Tally()
        self.stopping = asyncio.Event()
        self._pad = "x" * max(workload.event_bytes - 230, 0)  # the frame's other fields are ~230 bytes
        # How late this client's own loop wakes from a short sleep: when it is high, latencies
        # measured here include time the frames waited for the client, not the service.
        self.loop_lags: list[float] = []

    async def run_with(self, sockets: aiohttp.ClientSession, http: aiohttp.ClientSession, duration_s: float,
                       drain_s: float = 5.0) -> None:
        """Create every socket's first execution, open and subscribe the sockets (on `sockets`, a
        session without a connection limit), publish on `http` for `duration_s`, then give
        deliveries `drain_s` to finish."""
        await asyncio.gather(*(self._post(http, execution_id(i, 0), "progress", 0, owner=True)
                               for i in range(self.w.sockets)))
        readers = [asyncio.create_task(self._watch(sockets, i)) for i in range(self.w.sockets)]
        await self._wait_open(60.0)
        start = time.monotonic()
        publishers = [asyncio.create_task(self._publish(http, i, start)) for i in range(self.w.sockets)]
        ticker = asyncio.create_task(self._tick())
        await asyncio.sleep(duration_s)
        self.stopping.set()
        await asyncio.gather(*publishers, return_exceptions=True)
        ticker.cancel()
        deadline = time.monotonic() + drain_s
        while self.tally.delivered + self.tally.lost < self.tally.published and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

    async def _tick(self, every_s: float = 0.005) -> None:
        while True:
            due = time.monotonic() + every_s
            await asyncio.sleep(every_s)
            self.loop_lags.append(time.monotonic() - due)

    async def _wait_open(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.tally.sockets_open < self.w.sockets:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.tally.sockets_open} of {self.w.sockets} sockets subscribed")
            await asyncio.sleep(0.05)

    async def _publish(self, session: aiohttp.ClientSession, i: int, start: float) -> None:
        w, k, j = self.w, 0, 2  # seq 1 of execution 0 was posted before the clock started
        due = start + i * w.interval / w.sockets
        while not self.stopping.is_set():
            await asyncio.sleep(max(due - time.monotonic(), 0))
            if self.stopping.is_set():
                return
            if j < w.events:
                await self._post(session, execution_id(i, k), "progress", min(j * 100 // w.events, 99))
                j += 1
            else:
                await self._post(session, execution_id(i, k + 1), "progress", 0, owner=True)
                await self._post(session, execution_id(i, k), "complete", 100)
                k, j = k + 1, 2
            due += w.interval

    async def _post(self, session: aiohttp.ClientSession, eid: str, event: str, progress: int, *, owner: bool = False) -> None:
        data = {"progress": progress, "status_text": self._pad} if event == "progress" else {"report": {"summary": self._pad}}
        body = {"event": event, "data": data, **({"owner": self.w.owner} if owner else {})}
        try:
            async with session.post(f"{self.w.url}/api/v1/executions/{eid}/events", json=body,
                                    headers={"Authorization": f"Bearer {self.w.publish_token}"}) as resp:
                if resp.status == 202:
                    self.tally.published += 1
                else:
                    self.tally.error(str(resp.status))
                    await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self.tally.error(type(exc).__name__)

    async def _watch(self, session: aiohttp.ClientSession, i: int) -> None:
        ws_url = self.w.url.replace("http://", "ws://") + "/ws"
        k, expected = 0, 1
        async with session.ws_connect(ws_url, headers={"Authorization": f"Bearer {self.w.subscribe_token}"},
                                      heartbeat=None, max_msg_size=0) as ws:
            await ws.send_str(json.dumps({"type": "subscribe", "execution_id": execution_id(i, 0)}))
            counted = False
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                kind = frame.get("type")
                if kind == "subscribed":
                    if not counted:
                        self.tally.sockets_open += 1
                        counted = True
                    if "trimmed" in frame:
                        self.tally.trimmed += 1
                        self.tally.lost += frame["trimmed"] - (expected - 1)
                        expected = frame["trimmed"] + 1
                elif kind == "diagnosis_update":
                    self._arrived(frame, expected)
                    expected = max(expected, frame["seq"] + 1)
                    if frame["event"] == "complete":
                        k, expected = k + 1, 1
                        await ws.send_str(json.dumps({"type": "subscribe", "execution_id": execution_id(i, k)}))
                elif kind == "error" and frame.get("code") == "not_found":
                    self.tally.not_found += 1

    def _arrived(self, frame: dict, expected: int) -> None:
        seq = frame["seq"]
        if seq < expected:
            self.tally.duplicates += 1
            return
        self.tally.lost += seq - expected
        self.tally.delivered += 1
        self.tally.latencies.append(time.time() - parse_timestamp(frame["timestamp"]))
