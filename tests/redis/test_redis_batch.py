"""RedisStore.publish_many: one round trip per batch, answers equal to posting each item alone."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis_fixtures import RedisServer, eventually, listening

from diagops.push.lifecycle import AlreadyFinal, AlreadyStored, Regression
from diagops.push.store.base import PublishItem, Update, publish_each
from diagops.push.store.memory import MemoryStore, MemoryStoreConfig
from diagops.push.store.redis import RedisStore
from tests.redis.test_redis_store import SCENARIO, without_clock

# Every rule of the single-publish scenario, then duplicates by key and interleaved executions.
ITEMS: list[PublishItem] = [
    *(PublishItem(e, event, data, extra.get("owner"), extra.get("lang")) for e, event, data, extra in SCENARIO),
    PublishItem("k", "progress", {"progress": 1}, "u", idempotency_key="one"),
    PublishItem("m", "progress", {"progress": 3}, "u"),
    PublishItem("k", "progress", {"progress": 2}, idempotency_key="one"),  # a retry: a duplicate of seq 1
    PublishItem("m", "progress", {"progress": 2}),  # regression, between accepted events of two executions
    PublishItem("k", "progress", {"progress": 2}, idempotency_key="two"),
    PublishItem("m", "complete", {"report": {"ok": True}}),
]


def seen(outcome: Any) -> Any:
    """An outcome without what depends on the clock or the random epoch."""
    if isinstance(outcome, Update):
        return ("stored", outcome.seq, without_clock(outcome.message()))
    if isinstance(outcome, AlreadyStored):
        return ("duplicate", outcome.seq)
    return ("refused", type(outcome).__name__, str(outcome))


async def commandstats(url: str) -> dict[str, int]:
    raw = Redis.from_url(url)
    try:
        stats = await raw.info("commandstats")
    finally:
        await raw.aclose()
    return {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}


async def test_a_batch_answers_each_item_as_posting_it_alone_would(make_store) -> None:
    alone = MemoryStore(MemoryStoreConfig(max_events_per_execution=10))
    expected = [seen(o) for o in await publish_each(alone, ITEMS)]
    store = await make_store(max_events_per_execution=10)
    got = [seen(o) for o in await store.publish_many(ITEMS)]
    assert got == expected
    assert ("refused", "Regression", "progress 2 is lower than the last one (3)") in got  # the cases are there
    assert ("duplicate", 1) in got
    for execution_id in ("e1", "e3", "k", "m"):
        assert [without_clock(u.message()) for u in await store.events_after(execution_id, 0)] == \
            [without_clock(u.message()) for u in await alone.events_after(execution_id, 0)]


async def test_a_batch_on_remembered_executions_is_one_script_call_and_one_publish(make_store, redis_server: RedisServer) -> None:
    store = await make_store()
    ids = [f"r{n}" for n in range(20)]
    await store.publish_many([PublishItem(e, "progress", {"progress": 1}, "u") for e in ids])  # now remembered
    before = await commandstats(redis_server.url)
    batch = [PublishItem(e, "progress", {"progress": p}) for p in (2, 3, 4) for e in ids]
    outcomes = await store.publish_many(batch)
    after = await commandstats(redis_server.url)
    assert [o.seq for o in outcomes] == [2] * 20 + [3] * 20 + [4] * 20
    calls = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    assert calls.get("evalsha") == 1 and calls.get("publish") == 1  # PUBLISH counted from inside the script
    assert calls.get("rpush") == 20 and calls.get("hget") == 20  # per execution: one RPUSH, the script's version check
    assert not calls.get("evalsha_ro") and not calls.get("lrange")


async def test_new_executions_cost_one_pipelined_read_and_one_script_call(make_store, redis_server: RedisServer) -> None:
    store = await make_store()
    before = await commandstats(redis_server.url)
    outcomes = await store.publish_many([PublishItem(f"n{n}", "progress", {"progress": 1}, "u") for n in range(30)])
    after = await commandstats(redis_server.url)
    assert all(isinstance(o, Update) and o.seq == 1 for o in outcomes)
    assert after["evalsha"] - before.get("evalsha", 0) == 1


async def test_a_conflict_mid_batch_from_another_process_gives_the_per_item_answers(make_store) -> None:
    store_a, store_b = await make_store(), await make_store()
    await store_a.publish("x", "progress", {"progress": 10}, owner="u")  # A remembers x at seq 1
    await store_a.publish("z", "progress", {"progress": 10}, owner="u")
    await store_b.publish("x", "progress", {"progress": 50})  # another process moves x on
    await store_b.publish("z", "complete", {"report": {}})  # and ends z
    conflicts = store_a.append_conflicts
    outcomes = await store_a.publish_many([
        PublishItem("x", "progress", {"progress": 30}),  # accepted on A's memory, a regression on Redis's
        PublishItem("y", "progress", {"progress": 1}, "u"),
        PublishItem("x", "progress", {"progress": 60}),
        PublishItem("z", "progress", {"progress": 20}),
    ])
    assert isinstance(outcomes[0], Regression)
    assert isinstance(outcomes[1], Update) and outcomes[1].seq == 1
    assert isinstance(outcomes[2], Update) and outcomes[2].seq == 3
    assert isinstance(outcomes[3], AlreadyFinal)
    assert store_a.append_conflicts == conflicts + 2  # x and z lost the compare-and-swap; y was written
    assert [u.message()["data"]["progress"] for u in await store_b.events_after("x", 0)] == [10, 50, 60]


async def test_concurrent_batches_of_two_processes_on_the_same_executions_get_1_to_n(make_store) -> None:
    store_a, store_b = await make_store(), await make_store()
    ids = ["p", "q", "r"]
    await store_a.publish_many([PublishItem(e, "progress", {"progress": 0}, "u") for e in ids])

    async def batches(store: RedisStore, name: str, order: list[str]) -> None:
        for n in range(15):
            outcomes = await store.publish_many([PublishItem(e, "progress", {"progress": 0, "by": name, "n": n}) for e in order])
            assert all(isinstance(o, Update) for o in outcomes), outcomes

    await asyncio.gather(batches(store_a, "a1", ids), batches(store_a, "a2", ids[::-1]),
                         batches(store_b, "b1", ids), batches(store_b, "b2", ids[::-1]))
    for execution_id in ids:
        assert [u.seq for u in await store_b.events_after(execution_id, 0)] == list(range(1, 62))


async def test_a_listener_gets_each_event_of_a_batch_and_old_single_envelopes(make_store, redis_server: RedisServer, prefix: str) -> None:
    store_a, store_b = await make_store(), await make_store()
    async with listening(store_a, lambda: len(store_a._feed.listeners) == 1) as received:
        single = await store_b.publish("s", "progress", {"progress": 1}, owner="u")  # one envelope, as before batches
        batch = await store_b.publish_many([PublishItem(e, "progress", {"progress": 1}, "u") for e in ("b1", "b2", "b3")])
        raw = Redis.from_url(redis_server.url)
        try:  # what a process from before epochs published: "<accepted> <json>"
            old_style = single.encoded.replace('"seq":1', '"seq":2')
            await raw.publish(f"{prefix}updates", f"1.5 {old_style}")
        finally:
            await raw.aclose()
        await eventually(lambda: len(received) == 5)
    assert [(u.execution_id, u.seq) for u in received] == [("s", 1), ("b1", 1), ("b2", 1), ("b3", 1), ("s", 2)]
    assert [u.encoded for u in received[1:4]] == [u.encoded for u in batch]
    assert received[4].accepted_at == 1.5 and received[4].epoch == ""


async def test_redis_down_answers_every_item_unavailable(make_store, own_redis: RedisServer) -> None:
    store = await make_store(url=own_redis.url, socket_timeout_s=0.5, connect_timeout_s=0.5)
    await store.publish("d", "progress", {"progress": 1}, owner="u")
    own_redis.kill()
    outcomes = await store.publish_many([PublishItem("d", "progress", {"progress": 2}),
                                         PublishItem("n", "progress", {"progress": 1}, "u"),
                                         PublishItem("d", "bogus", {})])
    assert [type(o).__name__ for o in outcomes] == ["StoreUnavailable", "StoreUnavailable", "MalformedEvent"]
