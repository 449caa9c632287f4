"""Background traffic against a running `diagops serve`: diagnoses started over HTTP, watched over one socket.

Runs its own asyncio loop in a thread so a synchronous test can poll Prometheus meanwhile.
`hot` requests repeat a brand whose diagnosis already completed (cache hits); the
others use a new brand each (misses that run on the engine). Pacing is the load
shape, not synchronisation: tests wait on Prometheus conditions, never on time.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import aiohttp

from diagops.push.protocol import ws_url_for
from tests.servicekit import token


@dataclass
class Traffic:
    url: str
    rounds_per_s: float = 1.0
    fresh_per_round: int = 1
    hot_per_round: int = 0
    hot_brand: str = "hot-brand"
    prefix: str = "brand"
    started: int = 0
    frames: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Traffic:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="traffic", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {token('monitoring-test')}"}

    async def _post(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse, brand: str) -> None:
        try:
            async with session.post(f"{self.url}/api/v1/diagnoses", json={"brand": brand}, headers=self._headers) as resp:
                body = await resp.json()
                if resp.status != 202:
                    self.failures.append(f"{resp.status} {body}")
                    return
            self.started += 1
            await ws.send_json({"type": "subscribe", "execution_id": body["execution_id"], "last_seq": 0})
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self.failures.append(repr(exc))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT and '"diagnosis_update"' in msg.data:
                self.frames += 1

    async def _main(self) -> None:
        async with aiohttp.ClientSession() as session:
            # One refused token, so the auth-failure series exists in this process.
            async with session.post(f"{self.url}/api/v1/diagnoses", json={"brand": "x"},
                                    headers={"Authorization": "Bearer not-a-token"}):
                pass
            ws = await session.ws_connect(ws_url_for(self.url), headers=self._headers)
            reader = asyncio.create_task(self._read(ws))
            n = 0
            while not self._stop.is_set():
                posts = [self._post(session, ws, f"{self.prefix}-{n}-{i}") for i in range(self.fresh_per_round)]
                posts += [self._post(session, ws, self.hot_brand) for _ in range(self.hot_per_round)]
                await asyncio.gather(*posts)
                n += 1
                await asyncio.sleep(1 / self.rounds_per_s)  # load shape
            await ws.close()
            reader.cancel()


async def _complete_once(url: str, brand: str, timeout: float) -> None:
    headers = {"Authorization": f"Bearer {token('monitoring-test')}"}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url_for(url), headers=headers) as ws:
            async with session.post(f"{url}/api/v1/diagnoses", json={"brand": brand}, headers=headers) as resp:
                assert resp.status == 202, await resp.text()
                execution_id = (await resp.json())["execution_id"]
            await ws.send_json({"type": "subscribe", "execution_id": execution_id, "last_seq": 0})
            async with asyncio.timeout(timeout):
                async for msg in ws:
                    data = msg.json()
                    if data.get("type") == "diagnosis_update" and data.get("event") in ("complete", "error"):
                        assert data["event"] == "complete", data
                        return


def complete_once(url: str, brand: str, timeout: float = 15.0) -> None:
    """Run one diagnosis of `brand` to completion, so later requests for it are cache hits."""
    asyncio.run(_complete_once(url, brand, timeout))
