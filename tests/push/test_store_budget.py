"""The memory store's budget, seen from outside: a real service with a tiny `store.max_bytes`,
real sockets, the HTTP API and `/metrics`."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from diagops.push.store.base import StoreFull
from tests.push.wsutil import recv_json

BUDGET = 64 * 1024  # the smallest the spec takes: about sixty 1 KiB events
PADDING = "x" * 400


async def samples(service) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with service.session.get(f"{service.url}/metrics") as resp:
        text = await resp.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def run(service, eid: str, n: int, *, owner: str | None = "alice", finish: bool = False, text: str = PADDING) -> None:
    for _ in range(n):
        await service.state.publish(eid, "progress", {"progress": 10, "status_text": text}, owner=owner)
        owner = None
    if finish:
        await service.state.publish(eid, "complete", {"report": {"summary": text}})


async def expect_update(ws, eid: str, seq: int) -> None:
    frame = await recv_json(ws)
    assert (frame["type"], frame["execution_id"], frame["seq"]) == ("diagnosis_update", eid, seq), frame


@pytest.fixture
async def small(start_service):
    return await start_service(**{"store.max_bytes": BUDGET})


async def test_finished_executions_are_evicted_oldest_first_while_a_live_stream_goes_on(small):
    await run(small, "e-live", 1)
    ws = await small.connect()
    await ws.send_json({"type": "subscribe", "execution_id": "e-live"})
    assert (await recv_json(ws))["type"] == "subscribed"
    await expect_update(ws, "e-live", 1)
    seq = 1
    for i in range(80):  # ~240 KiB of finished diagnoses through a 64 KiB store
        await run(small, f"e-done-{i}", 2, finish=True)
        if i % 10 == 9:
            await run(small, "e-live", 1, owner=None)
            seq += 1
            await expect_update(ws, "e-live", seq)  # every live event arrives, in order, no gap

    usage = small.state.store.usage()
    assert usage.bytes <= BUDGET and usage.max_bytes == BUDGET
    assert await small.state.store.snapshot("e-done-79") is not None
    assert await small.state.store.snapshot("e-done-0") is None
    await ws.send_json({"type": "subscribe", "execution_id": "e-done-0", "last_seq": 2})  # resuming into it
    assert await recv_json(ws) == {"type": "error", "code": "not_found", "message": "no execution e-done-0",
                                   "execution_id": "e-done-0"}
    async with small.session.get(f"{small.url}/api/v1/executions/e-done-0/events", headers=small.auth()) as resp:
        assert resp.status == 404
    metrics = await samples(small)
    assert metrics[("diagops_store_evictions_total", (("reason", "finished"),))] >= 3 * 40
    assert metrics[("diagops_store_bytes", ())] == small.state.store.usage().bytes > 0
    assert metrics[("diagops_store_max_bytes", ())] == BUDGET
    assert metrics[("diagops_store_executions", ())] == small.state.store.usage().executions < 81


async def test_with_only_live_streams_new_executions_are_refused_503_and_running_ones_stream_on(small):
    await run(small, "e-live-0", 1)
    ws = await small.connect()
    await ws.send_json({"type": "subscribe", "execution_id": "e-live-0"})
    assert (await recv_json(ws))["type"] == "subscribed"
    await expect_update(ws, "e-live-0", 1)
    with pytest.raises(StoreFull):  # the smallest events there are: their snapshots fill the store
        for i in range(1, 1000):
            await small.state.publish(f"e-live-{i}", "progress", {"progress": 0}, owner="alice")
    assert i > 100 and small.state.store.usage().bytes <= BUDGET

    async with small.session.post(f"{small.url}/api/v1/diagnoses", json={"brand": "Acme"}, headers=small.auth()) as resp:
        assert resp.status == 503 and resp.headers["Retry-After"] == "5"
        assert (await resp.json())["error"]["code"] == "store_full"
    publisher = small.auth("engine", ("publish",))
    new = {"event": "progress", "data": {"progress": 0}, "owner": "alice"}
    async with small.session.post(f"{small.url}/api/v1/executions/e-new/events", json=new, headers=publisher) as resp:
        assert resp.status == 503 and (await resp.json())["error"]["code"] == "store_full"
    assert await small.state.store.snapshot("e-new") is None  # nothing stored

    for seq in (2, 3):  # the running one is never refused: refusing would break its stream
        body = {"event": "progress", "data": {"progress": 20 + seq}}
        async with small.session.post(f"{small.url}/api/v1/executions/e-live-0/events", json=body, headers=publisher) as resp:
            assert resp.status == 202 and (await resp.json()) == {"seq": seq}
        await expect_update(ws, "e-live-0", seq)
    metrics = await samples(small)
    assert metrics[("diagops_store_refusals_total", ())] >= 3


async def test_resuming_into_a_trimmed_execution_says_where_the_stored_stream_starts(small):
    await run(small, "e-old", 30)  # nobody watches it: once it is idle longest, its events may go
    for i in range(30):
        await run(small, f"e-busy-{i}", 2)
    trimmed = small.state.store.trimmed("e-old")
    assert 0 < trimmed <= 30

    ws = await small.connect()
    await ws.send_json({"type": "subscribe", "execution_id": "e-old", "last_seq": 3})
    subscribed = await recv_json(ws)
    subscribed_epoch = subscribed.pop("epoch")
    assert isinstance(subscribed_epoch, str) and subscribed_epoch
    assert subscribed == {"type": "subscribed", "execution_id": "e-old", "seq": 30, "trimmed": trimmed}
    for seq in range(trimmed + 1, 31):  # what is still stored, then live: explicit, not a silent gap
        await expect_update(ws, "e-old", seq)
    await run(small, "e-old", 1, owner=None)
    await expect_update(ws, "e-old", 31)

    headers = small.auth()
    async with small.session.get(f"{small.url}/api/v1/executions/e-old/events?after=0", headers=headers) as resp:
        assert resp.headers["Diagops-Trimmed"] == str(trimmed)
        assert [e["seq"] for e in await resp.json()][0] == trimmed + 1
    async with small.session.get(f"{small.url}/api/v1/executions/e-old/events?after=30", headers=headers) as resp:
        assert "Diagops-Trimmed" not in resp.headers and [e["seq"] for e in await resp.json()] == [31]
    await ws.send_json({"type": "subscribe", "execution_id": "e-old", "last_seq": 31})  # nothing missed: no field
    resumed = await recv_json(ws)
    assert resumed.pop("epoch") == subscribed_epoch
    assert resumed == {"type": "subscribed", "execution_id": "e-old", "seq": 31}
