"""Watching a diagnosis over /ws: order, replay, hand-over to live, final events."""

from __future__ import annotations

import re

from diagops.push.protocol import STAGES, parse_timestamp
from tests.push.wsutil import eventually, recv_json, updates, watch_to_end

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_a_diagnosis_streams_every_stage_in_order_with_consecutive_seq(service):
    started = await service.start_diagnosis(brand="Acme")
    ws = await service.connect()
    frames = await watch_to_end(ws, started["execution_id"])

    assert frames[0] == {"type": "subscribed", "execution_id": started["execution_id"], "seq": frames[0]["seq"],
                         "epoch": frames[0]["epoch"]}
    events = updates(frames)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["event"] == "complete" and isinstance(events[-1]["data"]["report"], dict)
    progress = [e["data"]["progress"] for e in events]
    assert progress == sorted(progress) and progress[-1] == 100
    stages = [STAGES.index(e["data"]["stage"]) for e in events]
    assert stages == sorted(stages) and STAGES[stages[0]] == "queued"
    for e in events:
        assert TIMESTAMP.match(e["timestamp"]), e["timestamp"]
        assert e["execution_id"] == started["execution_id"]
    assert parse_timestamp(events[-1]["timestamp"]) >= parse_timestamp(events[0]["timestamp"])


async def test_status_texts_follow_the_requested_language(service):
    zh = await service.start_diagnosis(brand="Acme")
    en = await service.start_diagnosis(brand="Acme", lang="en")
    ws = await service.connect()
    zh_text = updates(await watch_to_end(ws, zh["execution_id"]))[0]["data"]["status_text"]
    en_text = updates(await watch_to_end(ws, en["execution_id"]))[0]["data"]["status_text"]
    assert re.search(r"[\u4e00-\u9fff]", zh_text)
    assert en_text.isascii() and "Queued" in en_text


async def test_resubscribing_with_last_seq_replays_only_what_was_missed(service):
    started = await service.start_diagnosis()
    eid = started["execution_id"]
    ws = await service.connect()
    full = updates(await watch_to_end(ws, eid))
    resumed = await watch_to_end(ws, eid, last_seq=3)
    assert resumed[0]["type"] == "subscribed" and resumed[0]["seq"] == len(full)
    assert updates(resumed) == full[3:]


async def test_last_seq_past_the_end_replays_nothing_and_frees_the_slot(service):
    started = await service.start_diagnosis()
    eid = started["execution_id"]
    ws = await service.connect()
    full = updates(await watch_to_end(ws, eid))
    await ws.send_json({"type": "subscribe", "execution_id": eid, "last_seq": len(full) + 1})
    subscribed = await recv_json(ws)
    assert subscribed == {"type": "subscribed", "execution_id": eid, "seq": len(full), "epoch": subscribed["epoch"]}
    await ws.send_json({"type": "ping"})
    assert (await recv_json(ws))["type"] == "pong"


async def test_replay_hands_over_to_live_without_gap_or_duplicate(start_service):
    svc = await start_service(**{"engine.speed": 5.0})  # ~4 s: subscribe mid-stream
    eid = (await svc.start_diagnosis())["execution_id"]
    ws = await svc.connect()
    # Subscribe once a few events exist and the diagnosis is still running.
    snap = await eventually(lambda: _seq_at_least(svc, eid, 3), what="three stored events")
    assert not snap.final
    frames = await watch_to_end(ws, eid, last_seq=1, timeout=20)
    events = updates(frames)
    assert frames[0]["seq"] < events[-1]["seq"]  # some events arrived live, after the replay
    assert [e["seq"] for e in events] == list(range(2, events[-1]["seq"] + 1))


async def _seq_at_least(svc, eid, n):
    snap = await svc.state.store.snapshot(eid)
    return snap if snap is not None and snap.seq >= n else None


async def test_every_subscriber_gets_the_same_stream(service):
    eid = (await service.start_diagnosis())["execution_id"]
    sockets = [await service.connect() for _ in range(3)]
    streams = [updates(await watch_to_end(ws, eid)) for ws in sockets]
    assert all(s == streams[0] for s in streams)


async def test_unsubscribe_is_answered_and_stops_the_stream(start_service):
    svc = await start_service(**{"engine.speed": 2.0})
    eid = (await svc.start_diagnosis())["execution_id"]
    ws = await svc.connect()
    await ws.send_json({"type": "subscribe", "execution_id": eid})
    assert (await recv_json(ws))["type"] == "subscribed"
    await ws.send_json({"type": "unsubscribe", "execution_id": eid})
    frames = []
    while True:
        frame = await recv_json(ws)
        frames.append(frame)
        if frame["type"] == "unsubscribed":
            break
    assert frame == {"type": "unsubscribed", "execution_id": eid}
    assert not any(eid in svc.state.hub.subscriptions(conn) for conn in svc.state.connections)
    await ws.send_json({"type": "ping"})
    assert (await recv_json(ws))["type"] == "pong"  # nothing from eid in between


async def test_a_client_that_leaves_mid_stream_leaves_nothing_in_the_hub(start_service):
    svc = await start_service(**{"engine.speed": 2.0})  # ~10 s: still running when the client leaves
    eid = (await svc.start_diagnosis())["execution_id"]
    ws = await svc.connect()
    await ws.send_json({"type": "subscribe", "execution_id": eid})
    assert (await recv_json(ws))["type"] == "subscribed"
    hub = svc.state.hub
    assert [list(hub.subscriptions(c)) for c in svc.state.connections] == [[eid]]
    await ws.close()
    await eventually(lambda: not svc.state.connections, what="the connection to end")
    assert hub._by_execution == {} and hub._by_subscriber == {}


async def test_live_updates_of_every_frame_length_form_arrive_whole(service):
    """Frames are built by the connection; a 16-bit and a 64-bit length must both parse on a real client."""
    await service.state.publish("e-sizes", "progress", {"progress": 0}, owner="alice")
    ws = await service.connect()
    await ws.send_json({"type": "subscribe", "execution_id": "e-sizes", "last_seq": 1})
    assert (await recv_json(ws))["type"] == "subscribed"
    for seq, pad in ((2, "x" * 300), (3, "汉" * 30_000)):  # 65,535 < 90,000 UTF-8 bytes
        await service.state.publish("e-sizes", "progress", {"progress": seq, "pad": pad})
        frame = await recv_json(ws)
        assert (frame["seq"], frame["data"]["pad"]) == (seq, pad)


async def test_ping_frame_is_answered_with_a_timestamped_pong(service):
    ws = await service.connect()
    await ws.send_json({"type": "ping"})
    pong = await recv_json(ws)
    assert pong["type"] == "pong" and TIMESTAMP.match(pong["timestamp"])
