"""RedisStore against the Store interface: the memory store's semantics, shared by processes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis
from redis_fixtures import RedisServer, eventually, listening

from diagops.push.lifecycle import AlreadyFinal, PublishRefused, TooManyEvents
from diagops.push.store.base import Store
from diagops.push.store.memory import MemoryStore, MemoryStoreConfig
from diagops.push.store.redis import RedisStore, RedisStoreConfig
from tests.push.store_calls import EVERY_OPERATION, call_every_operation

Step = tuple[str, str, dict[str, Any], dict[str, Any]]

# Every rule advance() applies, in an order that exercises each refusal.
SCENARIO: list[Step] = [
    ("e1", "progress", {"progress": 10}, {}),  # no owner
    ("e1", "progress", {"progress": 10, "stage": "ai_fetching"}, {"owner": "u1", "lang": "en"}),
    ("e1", "progress", {"progress": 5}, {}),  # progress regression
    ("e1", "progress", {"progress": 10, "stage": "queued"}, {}),  # stage regression
    ("e1", "progress", {"stage": "analyzing"}, {}),  # no progress
    ("e1", "progress", {"progress": "x"}, {}),  # malformed
    ("e1", "bogus", {}, {}),  # malformed
    ("e1", "progress", {"progress": 50, "stage": "analyzing", "status_text": "分析中"}, {}),
    ("e1", "complete", {"report": {"score": 1}}, {}),
    ("e1", "progress", {"progress": 100}, {}),  # after final
    ("e2", "error", {"error": "boom", "error_type": "TIMEOUT"}, {"owner": "u2", "lang": "en"}),
    ("e3", "progress", {"progress": 1}, {"owner": "u3", "lang": "xx"}),  # bad lang
    *[("e3", "progress", {"progress": n}, {"owner": "u3"}) for n in range(11)],  # the 11th passes the cap
]


async def run_scenario(store: Store) -> list[Any]:
    """What a store answered to each step, without the parts that depend on the clock."""
    seen: list[Any] = []
    for execution_id, event, data, extra in SCENARIO:
        try:
            update = await store.publish(execution_id, event, data, **extra)
        except PublishRefused as exc:
            seen.append(("refused", type(exc).__name__, exc.status))
        else:
            seen.append(("stored", update.seq, without_clock(update.message())))
    for execution_id, after in (("e1", 0), ("e1", 1), ("e1", 99), ("e1", -5), ("e3", 7), ("nope", 0)):
        seen.append(("after", execution_id, after, [without_clock(u.message()) for u in await store.events_after(execution_id, after)]))
    for execution_id in ("e1", "e2", "e3", "nope"):
        snapshot = await store.snapshot(execution_id)
        # An epoch is random per stream, so it is compared as "present", like the clock is left out.
        seen.append(("snapshot", None if snapshot is None else {
            k: (bool(v) if k == "epoch" else v) for k, v in snapshot.to_dict().items() if k not in ("updated_at", "created_at")
        }))
    return seen


def without_clock(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "timestamp"}


async def test_answers_every_step_as_the_memory_store_does(make_store) -> None:
    memory = MemoryStore(MemoryStoreConfig(max_events_per_execution=10))
    redis_store = await make_store(max_events_per_execution=10)
    expected = await run_scenario(memory)
    assert await run_scenario(redis_store) == expected
    # The scenario really hit each refusal and the cap.
    refusals = {entry[1] for entry in expected if entry[0] == "refused"}
    assert refusals == {"NoOwner", "Regression", "MalformedEvent", "AlreadyFinal", "TooManyEvents"}


async def test_refused_event_stores_nothing_and_uses_no_seq(make_store) -> None:
    store = await make_store()
    await store.publish("e", "progress", {"progress": 40}, owner="u")
    with pytest.raises(PublishRefused):
        await store.publish("e", "progress", {"progress": 39})
    assert (await store.publish("e", "progress", {"progress": 41})).seq == 2
    assert [u.seq for u in await store.events_after("e", 0)] == [1, 2]


async def test_replayed_updates_equal_the_published_ones(make_store) -> None:
    store_a, store_b = await make_store(), await make_store()
    published = [await store_a.publish("e", "progress", {"progress": n}, owner="u") for n in range(5)]
    replayed = await store_b.events_after("e", 2)
    assert [(u.seq, u.encoded, u.accepted_at, u.nbytes) for u in replayed] == [
        (u.seq, u.encoded, u.accepted_at, u.nbytes) for u in published[2:]
    ]


async def test_concurrent_publishers_in_two_stores_get_seq_1_to_n_without_gap(make_store) -> None:
    """Two stores (two connection pools, as two processes have) race on one execution."""
    store_a, store_b = await make_store(), await make_store()
    await store_a.publish("e", "progress", {"progress": 0, "by": "setup"}, owner="u")
    per_task, tasks_per_store = 10, 25  # 25 local tasks per store starved the CAS before the local lock

    async def publisher(store: RedisStore, name: str) -> list[int]:
        return [(await store.publish("e", "progress", {"progress": 0, "by": name, "n": i})).seq for i in range(per_task)]

    results = await asyncio.gather(*(
        publisher(store, f"{label}{t}") for label, store in (("a", store_a), ("b", store_b)) for t in range(tasks_per_store)
    ))
    total = 1 + 2 * tasks_per_store * per_task
    assert sorted(seq for seqs in results for seq in seqs) == list(range(2, total + 1))
    log = await store_a.events_after("e", 0)
    assert [u.seq for u in log] == list(range(1, total + 1))
    payloads = [(u.message()["data"]["by"], u.message()["data"].get("n")) for u in log[1:]]
    assert sorted(payloads) == sorted((f"{label}{t}", i) for label in "ab" for t in range(tasks_per_store) for i in range(per_task))
    assert (await store_b.snapshot("e")).seq == total
    # The race really happened: some appends lost the compare-and-swap and were re-validated.
    assert store_a.append_conflicts + store_b.append_conflicts > 0


async def test_a_listener_in_one_store_gets_what_another_publishes_in_order(make_store) -> None:
    store_a, store_b = await make_store(), await make_store()
    async with listening(store_a, lambda: len(store_a._feed.listeners) == 1) as received:
        published = [await store_b.publish("e", "progress", {"progress": n}, owner="u") for n in range(20)]
        published.append(await store_a.publish("e", "complete", {"report": {}}))
        await eventually(lambda: len(received) == len(published))
    assert [(u.seq, u.encoded) for u in received] == [(u.seq, u.encoded) for u in published]


async def test_finished_execution_expires_after_retention_unfinished_one_stays(make_store, redis_server: RedisServer, prefix: str) -> None:
    store = await make_store(retention_s=0.5, abandoned_after_s=3600)
    await store.publish("done", "progress", {"progress": 1}, owner="u")
    await store.publish("done", "complete", {"report": {}})
    await store.publish("open", "progress", {"progress": 1}, owner="u")
    raw = Redis.from_url(redis_server.url)
    try:
        for key in (f"{prefix}{{done}}:snap", f"{prefix}{{done}}:events"):
            assert 0 < await raw.pttl(key) <= 500
        for key in (f"{prefix}{{open}}:snap", f"{prefix}{{open}}:events"):
            assert 500 < await raw.pttl(key) <= 3_600_000  # kept while running, until abandoned
    finally:
        await raw.aclose()
    await eventually(_gone(store, "done"), timeout=5)
    assert await store.events_after("done", 0) == []
    assert (await store.snapshot("open")).seq == 1


def _gone(store: RedisStore, execution_id: str):
    async def check() -> bool:
        return await store.snapshot(execution_id) is None
    return check


async def test_event_cap_refuses_past_the_limit_and_keeps_the_log_whole(make_store) -> None:
    store_a, store_b = await make_store(max_events_per_execution=10), await make_store(max_events_per_execution=10)
    for n in range(10):
        await (store_a if n % 2 else store_b).publish("e", "progress", {"progress": n}, owner="u")
    with pytest.raises(TooManyEvents):
        await store_a.publish("e", "progress", {"progress": 10})
    with pytest.raises(TooManyEvents):
        await store_b.publish("e", "complete", {"report": {}})
    assert [u.seq for u in await store_a.events_after("e", 0)] == list(range(1, 11))


async def test_after_a_final_event_no_store_accepts_another(make_store) -> None:
    store_a, store_b = await make_store(), await make_store()
    await store_a.publish("e", "error", {"error": "x", "error_type": "INTERNAL"}, owner="u")
    with pytest.raises(AlreadyFinal):
        await store_b.publish("e", "progress", {"progress": 1})


async def test_cache_is_shared_between_stores_and_expires(make_store, redis_server: RedisServer, prefix: str) -> None:
    store_a, store_b = await make_store(), await make_store()
    events = [("progress", {"progress": 50, "status_text": "正在获取"}), ("complete", {"report": {"k": [1, 2]}})]
    await store_a.cache_put("req-1", events, ttl_s=0.4)
    assert await store_b.cache_get("req-1") == events
    raw = Redis.from_url(redis_server.url)
    try:
        assert 0 < await raw.pttl(f"{prefix}{{cache}}:tlfu:entry:req-1") <= 400
    finally:
        await raw.aclose()
    await eventually(_cache_empty(store_b, "req-1"), timeout=5)
    assert await store_a.cache_get("missing") is None


def _cache_empty(store: RedisStore, key: str):
    async def check() -> bool:
        return await store.cache_get(key) is None
    return check


async def test_lru_cache_keeps_the_most_recently_used_entries_across_stores(make_store) -> None:
    store_a = await make_store(cache_max_entries=2, cache_policy="lru")
    store_b = await make_store(cache_max_entries=2, cache_policy="lru")
    memory = MemoryStore(MemoryStoreConfig(cache_max_entries=2, cache_policy="lru"))
    for store, other in ((memory, memory), (store_a, store_b)):
        await store.cache_put("a", [("complete", {"report": {"n": 1}})], 60)
        await other.cache_put("b", [("complete", {"report": {"n": 2}})], 60)
        assert await other.cache_get("a") is not None  # a is now the most recent
        await store.cache_put("c", [("complete", {"report": {"n": 3}})], 60)
    for key in ("a", "b", "c"):
        assert (await store_a.cache_get(key) is None) == (await memory.cache_get(key) is None), key
    assert await store_b.cache_get("b") is None


async def test_a_zero_ttl_or_zero_capacity_caches_nothing(make_store) -> None:
    store = await make_store(cache_max_entries=0)
    await store.cache_put("k", [("complete", {"report": {}})], 60)
    assert await store.cache_get("k") is None
    other = await make_store()
    await other.cache_put("k", [("complete", {"report": {}})], 0)
    assert await other.cache_get("k") is None


async def test_operations_are_observed_with_their_outcome(make_store) -> None:
    seen: list[tuple[str, bool]] = []
    durations: list[float] = []

    def observe(op: str, seconds: float, ok: bool) -> None:
        seen.append((op, ok))
        durations.append(seconds)

    store = await make_store(on_operation=observe)
    assert seen == [("ping", True)]  # start() checks Redis answers
    seen.clear()
    await call_every_operation(store)
    await store.ping()
    assert seen == [*EVERY_OPERATION, ("ping", True)]
    assert all(0 < seconds < 5 for seconds in durations)


def test_from_spec_reads_the_settings_without_connecting() -> None:
    from diagops.spec import load_spec

    spec = load_spec(None, env={}, overrides={
        "service.redis_url": "redis://127.0.0.1:1/3", "store.retention_s": 60, "store.max_events_per_execution": 50,
        "cache.max_entries": 7,
    })
    store = RedisStore.from_spec(spec)  # port 1: connecting would fail
    assert (store.config.url, store.config.retention_s, store.config.max_events_per_execution, store.config.cache_max_entries) == (
        "redis://127.0.0.1:1/3", 60, 50, 7,
    )


def test_open_store_picks_redis_when_a_url_is_set() -> None:
    from diagops.push.store import open_store
    from diagops.spec import load_spec

    assert isinstance(open_store(load_spec(None, env={"DIAGOPS_REDIS_URL": "redis://127.0.0.1:1/0"})), RedisStore)
    assert isinstance(open_store(load_spec(None, env={})), MemoryStore)
    assert RedisStoreConfig().prefix == "diagops:"


async def test_a_burst_beyond_the_pool_waits_for_connections_instead_of_failing(make_store) -> None:
    """redis-py's default pool raises at its 100th concurrent command; the store must queue instead."""
    store = await make_store(max_connections=4)
    for n in range(150):
        await store.publish(f"b{n}", "progress", {"progress": 1}, owner="u")
    results = await asyncio.gather(*(store.events_after(f"b{n}", 0) for n in range(150)),
                                   *(store.publish(f"b{n}", "progress", {"progress": 2}) for n in range(150)))
    assert all(len(r) >= 1 for r in results[:150])
    assert sorted(u.seq for u in results[150:]) == [2] * 150


async def test_a_store_whose_remembered_snapshot_is_stale_appends_after_the_others(make_store) -> None:
    store_a, store_b = await make_store(), await make_store()
    await store_a.publish("e", "progress", {"progress": 10}, owner="u")  # A now remembers seq 1
    await store_b.publish("e", "progress", {"progress": 20})
    await store_b.publish("e", "progress", {"progress": 30})
    conflicts = store_a.append_conflicts
    update = await store_a.publish("e", "progress", {"progress": 40})
    assert update.seq == 4 and store_a.append_conflicts == conflicts + 1
    assert [u.message()["data"]["progress"] for u in await store_b.events_after("e", 0)] == [10, 20, 30, 40]


@pytest.mark.parametrize("progress", [90, 50], ids=["passes-on-memory", "refused-on-memory"])
async def test_a_re_created_execution_is_not_mistaken_for_the_remembered_one(make_store, progress: int) -> None:
    """Same id, same number of events, another execution. At 90 the remembered snapshot (seq 1,
    progress 80, owner "first") would let the event through, and only the version's created_at
    stops its owner overwriting the new execution's; at 50 it would refuse a valid event, so a
    refusal is re-judged on the stored snapshot."""
    store_a, store_b = await make_store(retention_s=0.2), await make_store(retention_s=0.2)
    await store_a.publish("e", "progress", {"progress": 80}, owner="first")  # A remembers seq 1
    await store_b.publish("e", "complete", {"report": {}})
    await eventually(_gone(store_b, "e"), timeout=5)
    await store_b.publish("e", "progress", {"progress": 10}, owner="second")  # seq 1 again
    assert (await store_a.publish("e", "progress", {"progress": progress})).seq == 2
    snapshot = await store_b.snapshot("e")
    assert (snapshot.owner, snapshot.seq, snapshot.progress) == ("second", 2, progress)


async def test_a_log_left_without_its_snapshot_does_not_prefix_a_new_execution(make_store, redis_server: RedisServer, prefix: str) -> None:
    store = await make_store()
    await store.publish("e", "progress", {"progress": 1}, owner="u")
    await store.publish("e", "progress", {"progress": 2})
    raw = Redis.from_url(redis_server.url)
    try:
        await raw.delete(f"{prefix}{{e}}:snap")  # as if the snapshot's TTL ended before the log's
    finally:
        await raw.aclose()
    other = await make_store()
    assert (await other.publish("e", "progress", {"progress": 5}, owner="v")).seq == 1
    assert [u.seq for u in await other.events_after("e", 0)] == [1]


async def test_an_unfinished_execution_silent_past_abandoned_after_is_dropped(make_store) -> None:
    store = await make_store(abandoned_after_s=0.3)
    await store.publish("stuck", "progress", {"progress": 1}, owner="u")
    await eventually(_gone(store, "stuck"), timeout=5)
    assert await store.events_after("stuck", 0) == []


async def test_an_idempotency_key_stores_a_retried_event_once_across_processes(make_store) -> None:
    from diagops.push.lifecycle import AlreadyStored

    store_a, store_b = await make_store(), await make_store()
    await store_a.publish("k", "progress", {"progress": 1}, owner="u", idempotency_key="e1")
    with pytest.raises(AlreadyStored) as again:  # the retry lands on another process
        await store_b.publish("k", "progress", {"progress": 1}, idempotency_key="e1")
    assert again.value.seq == 1
    assert (await store_b.publish("k", "progress", {"progress": 2}, idempotency_key="e2")).seq == 2
    assert [u.seq for u in await store_a.events_after("k", 0)] == [1, 2]
