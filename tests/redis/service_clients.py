"""Clients for the multi-process tests: watchers that reconnect with last_seq, a retrying publisher."""

from __future__ import annotations

import asyncio
import uuid
import json
import re
from typing import Any

import aiohttp

from diagops.push.protocol import ws_url_for
from tests.servicekit import token

PUBLISH_TOKEN = token("engine", ("publish",))
WATCH_TOKEN = token("alice", ("subscribe",))


class Watcher:
    """Follows one execution to its final event. When its socket drops it reconnects to the next
    URL in its list with `last_seq`, as a client whose process died would; it records every
    update frame it got, so a test can check each seq arrived exactly once and in order."""

    def __init__(self, session: aiohttp.ClientSession, urls: list[str], execution_id: str, first: int = 0) -> None:
        self.session = session
        self.urls = urls
        self.execution_id = execution_id
        self.index = first
        self.seqs: list[int] = []
        self.frames: list[dict[str, Any]] = []
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.current_url: str | None = None

    @property
    def last(self) -> int:
        return self.seqs[-1] if self.seqs else 0

    async def run(self) -> None:
        while True:
            url = self.urls[self.index % len(self.urls)]
            try:
                async with self.session.ws_connect(
                    ws_url_for(url), headers={"Authorization": f"Bearer {WATCH_TOKEN}"},
                    heartbeat=None,
                ) as ws:
                    self.current_url = url
                    await ws.send_json({"type": "subscribe", "execution_id": self.execution_id, "last_seq": self.last})
                    async for message in ws:
                        if message.type != aiohttp.WSMsgType.TEXT:
                            break
                        frame = json.loads(message.data)
                        if frame["type"] == "subscribed":
                            self.connected.set()
                        elif frame["type"] == "diagnosis_update":
                            self.seqs.append(frame["seq"])
                            self.frames.append(frame)
                            if frame["event"] in ("complete", "error"):
                                return
                        else:
                            raise AssertionError(f"unexpected frame {frame}")
            except (aiohttp.ClientError, OSError):
                pass
            self.current_url = None
            self.reconnects += 1
            self.index += 1
            await asyncio.sleep(0.05)  # reconnect pacing, as a real client backs off


class Publisher:
    """Publishes through the HTTP API of several processes, retrying a refused (503) or
    unanswered event on the next process until one stores it. Every event carries an
    Idempotency-Key, so a retry of an event whose first try was stored is not stored again."""

    def __init__(self, session: aiohttp.ClientSession, urls: list[str]) -> None:
        self.session = session
        self.urls = list(urls)
        self.index = 0
        self.refused = 0  # 503 answers
        self.unanswered = 0  # connection errors: the event may or may not have been stored

    async def publish(self, execution_id: str, event: str, data: dict[str, Any], owner: str | None = None) -> int:
        body: dict[str, Any] = {"event": event, "data": data}
        if owner:
            body["owner"] = owner
        headers = {"Authorization": f"Bearer {PUBLISH_TOKEN}", "Idempotency-Key": uuid.uuid4().hex}  # one per event
        while True:
            url = self.urls[self.index % len(self.urls)]
            self.index += 1
            try:
                async with self.session.post(
                    f"{url}/api/v1/executions/{execution_id}/events", json=body,
                    headers=headers, timeout=aiohttp.ClientTimeout(total=5),
                ) as resp:
                    answer = await resp.json()
                    if resp.status == 202:
                        return answer["seq"]
                    if resp.status != 503:
                        raise AssertionError(f"publish refused {resp.status}: {answer}")
                    self.refused += 1
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                self.unanswered += 1
            await asyncio.sleep(0.01)  # retry pacing


async def status(session: aiohttp.ClientSession, url: str) -> int:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
            return resp.status
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
        return 0


async def metric(session: aiohttp.ClientSession, base_url: str, name: str, labels: str) -> float:
    """One sample of a Prometheus text exposition, 0 when absent."""
    async with session.get(f"{base_url}/metrics") as resp:
        text = await resp.text()
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0
