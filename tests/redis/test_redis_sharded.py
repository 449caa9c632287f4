"""Several Redis servers as shards: placement by execution id, every shard's feed, one restarted."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis
from redis_fixtures import RedisServer, eventually, listening
from service_clients import Publisher, Watcher, status

from diagops.push.store import open_store
from diagops.push.store.base import PublishItem, Update
from diagops.push.store.sharded import ShardedStore, rendezvous, shard_name
from tests.redis.test_redis_service import assert_every_payload_stored, assert_exactly_once_in_order, stream
from tests.servicekit import REPO, serve_process
from tests.servicekit import test_spec as spec_for_test


@pytest.fixture
def second_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis-2")
    server.start()
    yield server
    server.kill()


PREFIX = "diagops:"  # each test has servers of its own: the default prefix


@pytest.fixture
async def sharded(own_redis: RedisServer, second_redis: RedisServer) -> AsyncIterator[ShardedStore]:
    store = open_store(spec_for_test(**{"service.redis_url": [own_redis.url, second_redis.url]}))
    assert isinstance(store, ShardedStore)
    await store.start()
    yield store
    await store.close()


async def stored_executions(server: RedisServer, prefix: str = PREFIX) -> set[str]:
    raw = Redis.from_url(server.url, decode_responses=True)
    try:
        keys = await raw.keys(f"{prefix}*:snap")
    finally:
        await raw.aclose()
    return {key[len(prefix) + 1:-len("}:snap")] for key in keys}


def ids_on_each_shard(urls: list[str], per_shard: int) -> list[str]:
    """Execution ids, `per_shard` of them placed on each shard."""
    names = [shard_name(url) for url in urls]
    chosen: dict[int, list[str]] = {i: [] for i in range(len(urls))}
    n = 0
    while any(len(ids) < per_shard for ids in chosen.values()):
        candidate = f"s{n}"
        n += 1
        bucket = chosen[rendezvous(candidate, names)]
        if len(bucket) < per_shard:
            bucket.append(candidate)
    return [execution_id for ids in chosen.values() for execution_id in ids]


async def test_executions_spread_over_both_servers_where_placement_says(sharded, own_redis, second_redis) -> None:
    ids = [f"e{n}" for n in range(60)]
    outcomes = await sharded.publish_many([PublishItem(e, "progress", {"progress": 1}, "u") for e in ids])
    assert all(isinstance(o, Update) and o.seq == 1 for o in outcomes)
    for execution_id in ids[:10]:  # the single path places alike
        assert (await sharded.publish(execution_id, "progress", {"progress": 2})).seq == 2
    first, second = await stored_executions(own_redis), await stored_executions(second_redis)
    assert first | second == set(ids) and not first & second
    assert len(first) >= 15 and len(second) >= 15  # 60 ids, split about evenly
    assert first == {e for e in ids if sharded.shard_for(e) is sharded.shards[0]}
    assert [u.seq for u in await sharded.events_after("e3", 0)] == [1, 2]
    assert (await sharded.snapshot("e59")).seq == 1


async def test_a_listener_hears_every_shard(sharded) -> None:
    async with listening(sharded, lambda: len(sharded._listeners) == 1) as received:
        ids = [f"l{n}" for n in range(20)]
        await sharded.publish_many([PublishItem(e, "progress", {"progress": 1}, "u") for e in ids])
        await eventually(lambda: len(received) == 20)
    assert sorted(u.execution_id for u in received) == sorted(ids)
    assert {sharded.shard_for(u.execution_id) for u in received} == set(sharded.shards)


async def test_ready_only_when_every_shard_answers(sharded, second_redis) -> None:
    await sharded.ping()
    second_redis.kill()
    with pytest.raises(Exception, match="redis"):
        await sharded.ping()


def test_placement_is_the_same_in_another_process_and_for_any_order_of_urls() -> None:
    urls = ["redis://10.0.0.1:6379/0", "redis://:secret@10.0.0.2:6379/0", "redis://10.0.0.3:6379/0"]
    ids = [f"exec-{n}" for n in range(300)]
    here = [shard_name(urls[rendezvous(e, [shard_name(u) for u in urls])]) for e in ids]
    script = (
        "import json, sys\n"
        "from diagops.push.store.sharded import rendezvous, shard_name\n"
        "urls, ids = json.load(sys.stdin)\n"
        "names = [shard_name(u) for u in urls]\n"
        "print(json.dumps([names[rendezvous(e, names)] for e in ids]))\n"
    )
    reordered = [urls[2], urls[0], urls[1].replace(":secret@", ":rotated@")]  # another order, another password
    there = subprocess.run([sys.executable, "-c", script], input=json.dumps([reordered, ids]), capture_output=True,
                           text=True, check=True, cwd=REPO, env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert json.loads(there.stdout) == here
    assert len(set(here)) == 3


def test_adding_a_shard_moves_only_what_the_new_shard_wins() -> None:
    names = [f"redis://10.0.0.{n}:6379/0" for n in range(1, 4)]
    ids = [f"exec-{n}" for n in range(3000)]
    before = {e: names[rendezvous(e, names)] for e in ids}
    grown = [*names, "redis://10.0.0.9:6379/0"]
    after = {e: grown[rendezvous(e, grown)] for e in ids}
    moved = [e for e in ids if before[e] != after[e]]
    assert all(after[e] == grown[-1] for e in moved)
    assert 500 < len(moved) < 1000  # about a quarter


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_two_services_on_two_shards_deliver_1_to_n_once_across_a_restart_of_one(
        tmp_path, session, own_redis, second_redis) -> None:
    shard_urls = [own_redis.url, second_redis.url]
    with ExitStack() as stack:
        procs = [stack.enter_context(serve_process(
            tmp_path, args=["--redis-url", shard_urls[i % 2], "--redis-url", shard_urls[(i + 1) % 2]]))
            for i in range(2)]  # the two processes list the shards in opposite orders
        urls = [p.url for p in procs]
        ids = ids_on_each_shard(shard_urls, 2)
        publisher = Publisher(session, urls)
        for execution_id in ids:
            await publisher.publish(execution_id, "progress", {"progress": 0, "n": 0}, owner="alice")
        watchers = {e: [Watcher(session, urls, e, first=i) for i in range(2)] for e in ids}
        tasks = [asyncio.create_task(w.run()) for ws in watchers.values() for w in ws]
        await asyncio.wait_for(asyncio.gather(*(w.connected.wait() for ws in watchers.values() for w in ws)), 10)
        total = 150
        producing = [asyncio.create_task(stream(publisher, e, total)) for e in ids]
        await eventually(lambda: all(w.last >= 30 for ws in watchers.values() for w in ws), timeout=20)

        own_redis.kill()
        for url in urls:
            await eventually(lambda url=url: _is(status(session, url + "/readyz"), 503))
        await eventually(lambda: publisher.refused > 0)
        during = {e: ws[0].last for e, ws in watchers.items()}
        own_redis.start()
        for url in urls:
            await eventually(lambda url=url: _is(status(session, url + "/readyz"), 200), timeout=15)

        await asyncio.wait_for(asyncio.gather(*producing), 60)
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        for execution_id, group in watchers.items():
            assert_exactly_once_in_order(group)
            assert_every_payload_stored(group[0], total, publisher)
        assert all(w.reconnects == 0 for ws in watchers.values() for w in ws)
        assert any(last < total for last in during.values())  # the outage really was mid-stream
        on_first, on_second = await stored_executions(own_redis), await stored_executions(second_redis)
        assert on_first | on_second == set(ids) and len(on_first) == len(on_second) == 2


async def _is(awaitable, expected: int) -> bool:
    return await awaitable == expected
