"""Stream epochs: a stream that was lost and started over is announced as a reset, never
delivered as the continuation of the one a client knew (memory store; Redis in tests/redis)."""

from __future__ import annotations

import asyncio
import time

from diagops.push.client import follow
from tests.push.wsutil import eventually, recv_json, recv_until, updates

FOREVER = 10**9


async def _stream(svc, eid: str, n: int, first: int = 0, owner: str = "alice") -> None:
    """n progress events with growing progress; the first of a new execution names its owner."""
    for i in range(n):
        await svc.state.publish(eid, "progress", {"progress": first + i, "n": first + i}, owner=owner)


def _lose_everything(svc) -> None:
    """What a store restarted empty looks like from the service: every execution gone."""
    svc.state.store._executions.expire(time.time() + FOREVER)


async def test_subscribed_names_the_streams_epoch_and_it_stays_the_same(service):
    await _stream(service, "e-ep", 3)
    ws = await service.connect()
    await ws.send_json({"type": "subscribe", "execution_id": "e-ep"})
    first = (await recv_until(ws, lambda f: f.get("seq") == 3 and f["type"] == "diagnosis_update"))[0]
    assert first["type"] == "subscribed" and first["seq"] == 3 and "reset" not in first
    assert isinstance(first["epoch"], str) and first["epoch"]
    await ws.send_json({"type": "subscribe", "execution_id": "e-ep", "last_seq": 2, "epoch": first["epoch"]})
    again = await recv_until(ws, lambda f: f.get("seq") == 3 and f["type"] == "diagnosis_update")
    assert again[0] == first  # the same epoch: no reset, and the replay resumes after last_seq
    assert [u["seq"] for u in updates(again)] == [3]


async def test_resuming_with_another_epoch_resets_and_replays_from_seq_1(service):
    await _stream(service, "e-old", 4)
    ws = await service.connect()
    await ws.send_json({"type": "subscribe", "execution_id": "e-old", "last_seq": 3, "epoch": "not-this-one"})
    frames = await recv_until(ws, lambda f: f.get("seq") == 4 and f["type"] == "diagnosis_update")
    assert frames[0]["type"] == "subscribed" and frames[0]["reset"] is True and frames[0]["epoch"] != "not-this-one"
    assert [u["seq"] for u in updates(frames)] == [1, 2, 3, 4]


async def test_a_live_subscriber_gets_a_reset_when_the_stream_starts_over(service):
    await _stream(service, "e-live", 5)
    ws = await service.connect()
    await ws.send_json({"type": "subscribe", "execution_id": "e-live"})
    before = await recv_until(ws, lambda f: f.get("seq") == 5 and f["type"] == "diagnosis_update")
    _lose_everything(service)
    await _stream(service, "e-live", 2, first=50)  # the engine goes on: seq 1 and 2 of a new stream
    await service.state.publish("e-live", "complete", {"report": {"n": 52}})
    after = await recv_until(ws, lambda f: f.get("event") == "complete")
    reset = after[0]
    assert reset["type"] == "subscribed" and reset["reset"] is True and reset["seq"] >= 1
    assert reset["epoch"] != before[0]["epoch"]
    news = updates(after)
    assert [u["seq"] for u in news] == [1, 2, 3]  # nothing dropped as "already delivered"
    assert [u["data"].get("n", u["data"].get("report", {}).get("n")) for u in news] == [50, 51, 52]


async def test_an_epoch_of_the_wrong_type_is_invalid_field(service):
    await _stream(service, "e-bad", 1)
    ws = await service.connect()
    for epoch in (5, "", "x" * 65, {}, ["a"], True):
        await ws.send_json({"type": "subscribe", "execution_id": "e-bad", "epoch": epoch})
        error = await recv_json(ws)
        assert error["type"] == "error" and error["code"] == "invalid_field" and error["execution_id"] == "e-bad"
    await ws.send_json({"type": "ping"})
    assert (await recv_json(ws))["type"] == "pong"


async def test_the_reference_client_follows_a_reset_to_the_new_streams_end(service):
    await _stream(service, "e-client", 3)
    seen: list[int] = []
    watching = asyncio.create_task(asyncio.to_thread(
        follow, service.url, service.token(), "e-client", on_event=lambda f, _p: seen.append(f["seq"]), timeout=15))
    await eventually(lambda: len(seen) == 3, what="the client had the first stream")
    _lose_everything(service)
    await _stream(service, "e-client", 1, first=10)
    await service.state.publish("e-client", "complete", {"report": {}})
    progress = await asyncio.wait_for(watching, 15)
    assert progress.resets == 1
    assert [e["seq"] for e in progress.events] == [1, 2]  # the new stream only, from seq 1
    assert progress.events[0]["data"]["n"] == 10
    assert seen == [1, 2, 3, 1, 2]
