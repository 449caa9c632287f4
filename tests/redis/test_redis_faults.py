"""RedisStore when Redis dies, restarts or hangs: refuse fast, reconnect, lose nothing."""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Any

import pytest
from redis_fixtures import RedisServer, eventually, free_port

from diagops.push.hub import Hub
from diagops.push.store.base import RESYNC, OnOperation, StoreUnavailable, Update
from diagops.push.store.redis import RedisStore, RedisStoreConfig

FAST = {"socket_timeout_s": 0.5, "connect_timeout_s": 0.5, "reconnect_cap_s": 0.2}


async def started(server: RedisServer, *, on_operation: OnOperation | None = None, **overrides: object) -> RedisStore:
    store = RedisStore(RedisStoreConfig(url=server.url, prefix="f:", **{**FAST, **overrides}),  # type: ignore[arg-type]
                       on_operation=on_operation)
    await store.start()
    return store


async def succeeds(call) -> bool:
    try:
        await call()
    except StoreUnavailable:
        return False
    return True


async def test_start_raises_store_unavailable_when_redis_is_down() -> None:
    store = RedisStore(RedisStoreConfig(url=f"redis://127.0.0.1:{free_port()}/0", **FAST))  # type: ignore[arg-type]
    began = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await store.start()
    assert time.monotonic() - began < 2
    await store.close()


async def test_while_redis_is_down_every_operation_refuses_then_recovers(own_redis: RedisServer) -> None:
    outcomes: list[tuple[str, bool]] = []
    store = await started(own_redis, on_operation=lambda op, _s, ok: outcomes.append((op, ok)))
    try:
        await store.publish("e", "progress", {"progress": 1}, owner="u")
        own_redis.kill()
        calls = {
            "publish": lambda: store.publish("e", "progress", {"progress": 2}),
            "events_after": lambda: store.events_after("e", 0),
            "snapshot": lambda: store.snapshot("e"),
            "cache_get": lambda: store.cache_get("k"),
            "cache_put": lambda: store.cache_put("k", [], 10),
            "ping": store.ping,
        }
        for op, call in calls.items():
            began = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await call()
            assert time.monotonic() - began < 2, op
            assert (op, False) in outcomes, op
        own_redis.start()
        await eventually(lambda: succeeds(store.ping), timeout=10)
        # The refused publish left nothing behind; the one before the crash survived it (AOF).
        assert [u.seq for u in await store.events_after("e", 0)] == [1]
        assert (await store.publish("e", "progress", {"progress": 2})).seq == 2
    finally:
        await store.close()


async def test_a_hung_redis_makes_operations_time_out_not_hang(own_redis: RedisServer) -> None:
    store = await started(own_redis)
    try:
        await store.publish("e", "progress", {"progress": 1}, owner="u")
        own_redis.pause()
        began = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.publish("e", "progress", {"progress": 2})
        with pytest.raises(StoreUnavailable):
            await store.ping()
        assert time.monotonic() - began < 3
        own_redis.resume()
        await eventually(lambda: succeeds(store.ping), timeout=10)
        # A timed-out append may or may not have landed; either way the log has no gap.
        seqs = [u.seq for u in await store.events_after("e", 0)]
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) in (1, 2)
    finally:
        await store.close()


async def test_listen_yields_resync_after_a_restart_then_streams_again(own_redis: RedisServer) -> None:
    listener, publisher = await started(own_redis), await started(own_redis)
    received: list[object] = []

    async def listen() -> None:
        async for item in listener.listen():
            received.append(item)

    task = asyncio.create_task(listen())
    try:
        await eventually(lambda: len(listener._feed.listeners) == 1)
        await publisher.publish("e", "progress", {"progress": 1}, owner="u")
        await eventually(lambda: len(received) == 1)
        own_redis.restart()
        await eventually(lambda: RESYNC in received, timeout=10)
        assert received[1:] == [RESYNC]
        await eventually(lambda: succeeds(listener.ping), timeout=10)
        await eventually(lambda: succeeds(lambda: publisher.publish("e", "progress", {"progress": 2})), timeout=10)
        await eventually(lambda: len(received) == 3)
        assert isinstance(received[2], Update) and received[2].seq == 2
        assert listener._feed.reconnects == 1
    finally:
        task.cancel()
        await listener.close()
        await publisher.close()


async def test_a_silent_live_feed_is_noticed_and_resynced(own_redis: RedisServer) -> None:
    """SIGSTOP keeps the socket open: only the feed's own ping finds the dead subscription."""
    store = await started(own_redis, feed_quiet_s=0.1, socket_timeout_s=0.3)
    received: list[object] = []

    async def listen() -> None:
        async for item in store.listen():
            received.append(item)

    task = asyncio.create_task(listen())
    try:
        await eventually(lambda: len(store._feed.listeners) == 1)
        own_redis.pause()
        await eventually(lambda: not store._feed.ready.is_set(), timeout=5)
        own_redis.resume()
        await eventually(lambda: received == [RESYNC], timeout=10)
        await store.ping()
    finally:
        task.cancel()
        await store.close()


class Recorder:
    """A hub subscriber that keeps what it was sent (the hub's Subscriber: a connection minus
    the socket), so the test checks the hub's own seq and RESYNC handling, not a copy of it."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.delivered: list[Update] = []

    @property
    def last(self) -> int:
        return self.delivered[-1].seq if self.delivered else 0

    def send_frame(self, frame: dict[str, Any]) -> bool:
        self.frames.append(frame)
        return True

    def send_update(self, update: Update) -> bool:
        self.delivered.append(update)
        return True


async def test_restart_redis_mid_stream_every_hub_delivers_every_event_once_in_order(own_redis: RedisServer) -> None:
    """Two processes' hubs, one subscriber each: a Redis restart costs each a RESYNC and a
    re-read of the log, never a lost or repeated event."""
    publisher, store_a, store_b = await started(own_redis), await started(own_redis), await started(own_redis)
    hubs = [Hub(store_a), Hub(store_b)]
    recorders = [Recorder(), Recorder()]
    tasks = [asyncio.create_task(hub.run()) for hub in hubs]
    total = 300
    refused = 0

    async def publish_all() -> None:
        nonlocal refused
        for n in range(total):
            event, data = ("complete", {"report": {}}) if n == total - 1 else ("progress", {"progress": 0, "n": n})
            while True:
                try:
                    await publisher.publish("e", event, data, owner="u")
                    break
                except StoreUnavailable:
                    refused += 1
                    await asyncio.sleep(0.01)

    try:
        await eventually(lambda: all(len(s._feed.listeners) == 1 for s in (store_a, store_b)))
        for hub, recorder in zip(hubs, recorders):
            assert await hub.subscribe(recorder, "e", 0) == 0
        producing = asyncio.create_task(publish_all())
        await eventually(lambda: all(r.last >= 100 for r in recorders), timeout=20)
        own_redis.restart()
        await asyncio.wait_for(producing, 30)
        final = (await publisher.snapshot("e")).seq
        await eventually(lambda: all(r.last == final for r in recorders), timeout=20)
        for hub, recorder, store in zip(hubs, recorders, (store_a, store_b)):
            assert recorder.frames == [{"type": "subscribed", "execution_id": "e", "seq": 0, "epoch": ""}]
            assert [u.seq for u in recorder.delivered] == list(range(1, final + 1))
            assert recorder.delivered[-1].event == "complete"
            assert store._feed.reconnects == 1  # the feed really was cut and resubscribed
            assert not hub.subscriptions(recorder)  # the final event ended the subscription
        # The restart really interrupted publishing. A publish whose reply was lost in the
        # crash may have been stored and then retried, so a payload can appear twice, never none.
        assert refused > 0
        numbers = {u.message()["data"].get("n") for u in recorders[0].delivered[:-1]}
        assert numbers == set(range(total - 1))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for store in (publisher, store_a, store_b):
            await store.close()


async def test_a_redis_restarted_empty_gives_live_subscribers_a_reset_not_a_silent_restart(own_redis: RedisServer) -> None:
    """No persistence (or a failover to a replica that is behind): the re-created execution's
    seq starts at 1 again under a new epoch; every process's hub announces the reset and
    delivers the new stream from seq 1, none drops it as already delivered."""
    publisher, store_a, store_b = await started(own_redis), await started(own_redis), await started(own_redis)
    hubs = [Hub(store_a), Hub(store_b)]
    recorders = [Recorder(), Recorder()]
    tasks = [asyncio.create_task(hub.run()) for hub in hubs]
    try:
        await eventually(lambda: all(len(s._feed.listeners) == 1 for s in (store_a, store_b)))
        for n in range(6):
            await publisher.publish("lost", "progress", {"progress": n}, owner="u")
        old_epoch = (await publisher.snapshot("lost")).epoch
        for hub, recorder in zip(hubs, recorders):
            await hub.subscribe(recorder, "lost", 0)
        await eventually(lambda: all(r.last == 6 for r in recorders))

        own_redis.kill()
        shutil.rmtree(own_redis.workdir / "appendonlydir")  # restarted with nothing on disk
        own_redis.start()
        await eventually(lambda: all(s._feed.reconnects == 1 for s in (store_a, store_b)), timeout=15)
        for n in range(3):
            await eventually(lambda n=n: succeeds(lambda: publisher.publish("lost", "progress", {"progress": 10 + n},
                                                                            owner="u")),
                             timeout=15, what=f"publish {n} to reach the restarted Redis")
        await publisher.publish("lost", "complete", {"report": {}})
        new_epoch = (await publisher.snapshot("lost")).epoch
        assert new_epoch != old_epoch

        await eventually(lambda: all(r.delivered and r.delivered[-1].event == "complete" for r in recorders), timeout=15)
        for recorder in recorders:
            assert recorder.frames == [
                {"type": "subscribed", "execution_id": "lost", "seq": 6, "epoch": old_epoch},
                {"type": "subscribed", "execution_id": "lost", "seq": recorder.frames[1]["seq"], "epoch": new_epoch,
                 "reset": True},
            ]
            assert [u.seq for u in recorder.delivered] == [1, 2, 3, 4, 5, 6, 1, 2, 3, 4]
            assert [u.epoch for u in recorder.delivered] == [old_epoch] * 6 + [new_epoch] * 4
    finally:
        for task in tasks:
            task.cancel()
        for store in (publisher, store_a, store_b):
            await store.close()
