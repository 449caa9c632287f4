"""Several `diagops serve` processes sharing one Redis: delivery, faults, cache, --workers.

Each test starts its own redis-server and real service processes on free ports.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import psutil
import pytest
from redis.asyncio import Redis
from redis_fixtures import RedisServer, eventually
from service_clients import (
    PUBLISH_TOKEN,
    WATCH_TOKEN,
    Publisher,
    Watcher,
    metric,
    status,
)

from tests.servicekit import REPO, SECRET, ServiceProcess, serve_process


@pytest.fixture
def services(tmp_path: Path, own_redis: RedisServer) -> Iterator:
    """start(n, env=..., args=...) -> n `diagops serve --redis-url` processes on one Redis."""
    with ExitStack() as stack:
        def start(n: int, *, env: dict[str, str] | None = None, args: list[str] | None = None) -> list[ServiceProcess]:
            return [
                stack.enter_context(serve_process(tmp_path, env=env, args=["--redis-url", own_redis.url, *(args or [])]))
                for _ in range(n)
            ]
        yield start


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def assert_exactly_once_in_order(watchers: list[Watcher], total: int | None = None) -> None:
    """Every watcher got seq 1..final once each, in order, ending with the final event, and
    all got the same frames. `total` checks the event count when no publish was ambiguous."""
    final = watchers[0].frames[-1]
    assert final["event"] == "complete"
    for watcher in watchers:
        assert watcher.seqs == list(range(1, final["seq"] + 1)), (watcher.urls, watcher.seqs)
        assert watcher.frames == watchers[0].frames
    if total is not None:
        assert final["seq"] == total


def assert_every_payload_stored(watcher: Watcher, total: int, publisher: Publisher) -> None:
    """Each event of `stream` is in the log exactly once: a publish refused or unanswered while
    Redis or a process died may have been stored before the failure, and its retry carries the
    same Idempotency-Key, so it is not stored again."""
    numbers = [frame["data"].get("n", frame["data"].get("report", {}).get("n")) for frame in watcher.frames]
    assert numbers == list(range(total))


async def stream(publisher: Publisher, execution_id: str, total: int, pace_s: float = 0.004) -> None:
    """Events 2..total (the first one created the execution), the last one final."""
    for n in range(1, total):
        event, data = ("complete", {"report": {"n": n}}) if n == total - 1 else ("progress", {"progress": 0, "n": n})
        await publisher.publish(execution_id, event, data)
        await asyncio.sleep(pace_s)  # pacing, so faults land mid-stream


async def test_three_processes_deliver_every_event_to_clients_on_all_of_them(services, session) -> None:
    procs = services(3)
    urls = [p.url for p in procs]
    publisher = Publisher(session, urls)
    assert await publisher.publish("x", "progress", {"progress": 0, "n": 0}, owner="alice") == 1
    watchers = [Watcher(session, urls, "x", first=i) for i in range(6)]  # two on each process
    tasks = [asyncio.create_task(w.run()) for w in watchers]
    await asyncio.wait_for(asyncio.gather(*(w.connected.wait() for w in watchers)), 10)

    # Concurrent publishers through every process at once on the same execution.
    async def burst(url: str, count: int) -> list[int]:
        one = Publisher(session, [url])
        return [await one.publish("x", "progress", {"progress": 0, "from": url, "i": i}) for i in range(count)]

    seqs = await asyncio.gather(*(burst(url, 30) for url in urls for _ in range(2)))
    assert sorted(s for run in seqs for s in run) == list(range(2, 2 + 180))
    final = await publisher.publish("x", "complete", {"report": {}})
    await asyncio.wait_for(asyncio.gather(*tasks), 20)
    assert final == 182
    assert_exactly_once_in_order(watchers, 182)
    assert all(w.reconnects == 0 for w in watchers)


async def test_kill_a_process_mid_stream_and_its_clients_resume_elsewhere(services, session) -> None:
    procs = services(3)
    urls = [p.url for p in procs]
    victim, survivors = procs[0], [p.url for p in procs[1:]]
    publisher = Publisher(session, survivors)
    await publisher.publish("k", "progress", {"progress": 0, "n": 0}, owner="alice")
    on_victim = [Watcher(session, urls, "k") for _ in range(4)]  # start on the victim, fail over to the next URL
    elsewhere = [Watcher(session, survivors, "k", first=i) for i in range(2)]
    watchers = on_victim + elsewhere
    tasks = [asyncio.create_task(w.run()) for w in watchers]
    await asyncio.wait_for(asyncio.gather(*(w.connected.wait() for w in watchers)), 10)
    producing = asyncio.create_task(stream(publisher, "k", 300))
    await eventually(lambda: all(w.last >= 60 for w in watchers), timeout=20)
    victim.process.kill()
    await asyncio.wait_for(producing, 30)
    await asyncio.wait_for(asyncio.gather(*tasks), 20)
    assert_exactly_once_in_order(watchers, 300)  # publishing went through the survivors: nothing ambiguous
    assert all(w.reconnects == 1 for w in on_victim) and all(w.reconnects == 0 for w in elsewhere)


async def test_restart_redis_mid_stream_clients_stay_connected_and_miss_nothing(services, session, own_redis) -> None:
    procs = services(2)
    urls = [p.url for p in procs]
    publisher = Publisher(session, urls)
    await publisher.publish("r", "progress", {"progress": 0, "n": 0}, owner="alice")
    watchers = [Watcher(session, urls, "r", first=i) for i in range(4)]
    tasks = [asyncio.create_task(w.run()) for w in watchers]
    await asyncio.wait_for(asyncio.gather(*(w.connected.wait() for w in watchers)), 10)
    producing = asyncio.create_task(stream(publisher, "r", 300))
    await eventually(lambda: all(w.last >= 60 for w in watchers), timeout=20)

    own_redis.kill()
    # While Redis is away: not ready, publishes refused with 503, sockets kept open.
    for url in urls:
        await eventually(lambda url=url: _is(status(session, url + "/readyz"), 503))
    await eventually(lambda: publisher.refused > 0)
    during = [w.last for w in watchers]
    own_redis.start()

    for url in urls:
        await eventually(lambda url=url: _is(status(session, url + "/readyz"), 200), timeout=15)
    await asyncio.wait_for(producing, 30)
    await asyncio.wait_for(asyncio.gather(*tasks), 20)
    assert_exactly_once_in_order(watchers)
    assert_every_payload_stored(watchers[0], 300, publisher)
    assert all(w.reconnects == 0 for w in watchers)
    assert all(last < 300 for last in during)  # the outage really was mid-stream
    errors = [await metric(session, url, "diagops_store_errors_total", 'op="publish"') for url in urls]
    assert sum(errors) > 0
    for url in urls:
        assert await metric(session, url, "diagops_store_operation_seconds_count", 'op="publish"') > 0


async def _is(awaitable, expected: int) -> bool:
    return await awaitable == expected


async def test_the_result_cache_is_shared_by_every_process(services, session, own_redis) -> None:
    first, second = services(2)
    body = {"brand": "Acme", "platforms": ["qwen", "kimi"], "questions": ["q1"]}
    headers = {"Authorization": f"Bearer {WATCH_TOKEN}"}
    async with session.post(f"{first.url}/api/v1/diagnoses", json=body, headers=headers) as resp:
        started = await resp.json()
    assert started["cached"] is False
    watcher = Watcher(session, [first.url], started["execution_id"])
    await asyncio.wait_for(watcher.run(), 20)
    assert watcher.frames[-1]["event"] == "complete"
    # The engine caches the result just after publishing `complete`: wait for the entry.
    raw = Redis.from_url(own_redis.url)
    try:
        await eventually(lambda: raw.keys("diagops:{cache}:tlfu:entry:*"))
    finally:
        await raw.aclose()
    reordered = {"brand": " acme ", "platforms": ["kimi", "qwen"], "questions": ["q1"]}
    async with session.post(f"{second.url}/api/v1/diagnoses", json=reordered, headers=headers) as resp:
        again = await resp.json()
    assert again["cached"] is True
    copy = Watcher(session, [second.url], again["execution_id"])
    await asyncio.wait_for(copy.run(), 10)
    assert copy.frames[-1]["data"]["report"] == watcher.frames[-1]["data"]["report"]


async def test_the_event_cap_holds_across_processes(services, session) -> None:
    procs = services(2, env={"DIAGOPS_STORE__MAX_EVENTS_PER_EXECUTION": "10"})
    publisher = Publisher(session, [p.url for p in procs])
    for n in range(10):
        await publisher.publish("c", "progress", {"progress": 0, "n": n}, owner="alice" if n == 0 else None)
    for proc in procs:
        async with session.post(f"{proc.url}/api/v1/executions/c/events", json={"event": "progress", "data": {"progress": 0}},
                                headers={"Authorization": f"Bearer {PUBLISH_TOKEN}"}) as resp:
            assert resp.status == 422 and (await resp.json())["error"]["code"] == "too_many_events"


async def test_workers_2_share_the_port_and_survive_a_dead_worker(tmp_path, own_redis, session) -> None:
    with serve_process(tmp_path, args=["--redis-url", own_redis.url, "--workers", "2"]) as served:
        port = int(served.url.rsplit(":", 1)[1])
        workers = psutil.Process(served.process.pid).children()
        assert len(workers) == 2
        await eventually(lambda: all(_listens(w, port) for w in workers))
        publisher = Publisher(session, [served.url])
        await publisher.publish("w", "progress", {"progress": 0, "n": 0}, owner="alice")
        watchers = [Watcher(session, [served.url], "w") for _ in range(20)]
        tasks = [asyncio.create_task(w.run()) for w in watchers]
        await asyncio.wait_for(asyncio.gather(*(w.connected.wait() for w in watchers)), 10)
        by_worker = {w.pid: _clients(w, port) for w in workers}
        assert all(by_worker.values()), by_worker  # the kernel spread the sockets over both workers
        # SO_REUSEPORT sends each scrape to either worker: every answer must count both.
        for _ in range(6):
            assert await _sample(session, served.url, "diagops_ws_connections") == 20
        producing = asyncio.create_task(stream(publisher, "w", 200))
        await eventually(lambda: all(w.last >= 40 for w in watchers), timeout=20)
        victim = max(workers, key=lambda w: by_worker[w.pid])
        victim.kill()
        await asyncio.wait_for(producing, 30)
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        assert_exactly_once_in_order(watchers)
        assert_every_payload_stored(watchers[0], 200, publisher)
        assert sum(w.reconnects for w in watchers) == by_worker[victim.pid]
        await eventually(lambda: len(psutil.Process(served.process.pid).children()) == 2)  # replaced
        opened = 20 + sum(w.reconnects for w in watchers)
        for _ in range(6):  # the dead worker's counters stay, its live gauge is gone
            assert await _sample(session, served.url, "diagops_ws_connections_opened_total") == opened
            assert await _sample(session, served.url, "diagops_ws_connections") == 0
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(15) == 0


async def _sample(session: aiohttp.ClientSession, base_url: str, name: str) -> float:
    async with session.get(f"{base_url}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


def _listens(process: psutil.Process, port: int) -> bool:
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in process.net_connections("tcp"))


def _clients(process: psutil.Process, port: int) -> int:
    return sum(1 for c in process.net_connections("tcp") if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)


def test_workers_without_redis_is_refused_with_a_clear_message() -> None:
    env = {**os.environ, "DIAGOPS_JWT_SECRET": SECRET}
    env.pop("DIAGOPS_REDIS_URL", None)
    result = subprocess.run([sys.executable, "-m", "diagops", "serve", "--workers", "2", "--config", os.devnull],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=30)
    assert result.returncode == 2
    assert "--redis-url" in result.stderr
