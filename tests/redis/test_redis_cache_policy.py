"""The Redis store's W-TinyLFU (redis_tinylfu_*.lua) makes the memory store's choices: the
same hits on the same requests, the sketch's halving included, and the same cap."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from diagops.bench.keys import zipf_trace
from diagops.push.store.cache_policy import TINYLFU
from diagops.push.store.memory import MemoryStore, MemoryStoreConfig
from diagops.push.store.redis import RedisStore

EVENTS = [("complete", {"report": {"score": 1}})]


async def replay(store: MemoryStore | RedisStore, trace: list[str]) -> list[bool]:
    """The service's use of the cache: look up, and store the result of a miss."""
    hits = []
    for key in trace:
        found = await store.cache_get(key)
        hits.append(found is not None)
        if found is None:
            await store.cache_put(key, EVENTS, 600)
    return hits


@pytest.mark.parametrize("capacity", [1, 2, 10, 30])
async def test_redis_and_memory_hit_on_the_same_requests(make_store, capacity: int) -> None:
    trace = [f"品牌-{k}" for k in zipf_trace(1500, 120, 1.1, seed=capacity)]  # UTF-8: both hash the same bytes
    assert len(trace) >= 2 * TINYLFU.sizes(capacity).sample_size  # the sketch is halved on the way
    memory = await replay(MemoryStore(MemoryStoreConfig(cache_max_entries=capacity)), trace)
    redis_store = await make_store(cache_max_entries=capacity)
    assert await replay(redis_store, trace) == memory
    assert 0 < sum(memory) < len(trace)


async def test_two_redis_stores_share_one_policy_state(make_store) -> None:
    """Processes on one Redis share the sketch and the segments: alternating them changes nothing."""
    trace = [f"k{k}" for k in zipf_trace(600, 60, 1.1, seed=7)]
    memory = await replay(MemoryStore(MemoryStoreConfig(cache_max_entries=8)), trace)
    a, b = await make_store(cache_max_entries=8), await make_store(cache_max_entries=8)
    hits = []
    for i, key in enumerate(trace):
        store = (a, b)[i % 2]
        found = await store.cache_get(key)
        hits.append(found is not None)
        if found is None:
            await (b, a)[i % 2].cache_put(key, EVENTS, 600)
    assert hits == memory


async def test_redis_holds_at_most_capacity_entries(make_store, redis_server, prefix: str) -> None:
    store = await make_store(cache_max_entries=5)
    await replay(store, [f"one-off-{i}" for i in range(40)])
    client = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        entries = [k async for k in client.scan_iter(f"{prefix}{{cache}}:tlfu:entry:*")]
        indexed = sum([await client.zcard(f"{prefix}{{cache}}:tlfu:{s}") for s in ("window", "probation", "protected")])
    finally:
        await client.aclose()
    assert len(entries) == indexed == 5


async def test_lru_stays_selectable_on_redis(make_store) -> None:
    trace = [f"k{k}" for k in zipf_trace(400, 50, 1.1, seed=3)]
    memory = await replay(MemoryStore(MemoryStoreConfig(cache_max_entries=6, cache_policy="lru")), trace)
    assert await replay(await make_store(cache_max_entries=6, cache_policy="lru"), trace) == memory


async def test_an_unknown_policy_is_a_clear_error(make_store) -> None:
    with pytest.raises(ValueError, match="cache policy must be one of tinylfu, lru, not 'lfu'"):
        await make_store(cache_policy="lfu")
