"""Batch publishing (POST /api/v1/events) and publish frames on /ws, on the memory store."""

from __future__ import annotations

import pytest

from tests.push import publish_checks as checks

CHECKS = [getattr(checks, name) for name in dir(checks) if name.startswith("check_")]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
async def test_publish_path(service, check):
    await check(service)


async def test_socket_publishes_past_the_queue_bound_wait_and_are_all_answered_in_order(start_service):
    """With room for 2 queued publishes, 30 pipelined frames make the receive loop wait for room
    (backpressure) and every frame is still stored and answered in order."""
    import json

    from tests.push.wsutil import recv_json

    svc = await start_service(**{"limits.max_batch_events": 2})
    e = checks.new_id()
    publisher = await svc.session.ws_connect(svc.ws_url, headers=svc.auth("engine", ("publish",)))
    for i in range(30):
        frame = {"type": "publish", "ref": f"r{i}", **checks.progress(e, i, **({"owner": "alice"} if i == 0 else {}))}
        await publisher.send_str(json.dumps(frame))
    answers = [await recv_json(publisher) for _ in range(30)]
    await publisher.close()
    assert [(a["ref"], a["seq"]) for a in answers] == [(f"r{i}", i + 1) for i in range(30)]
    assert await checks.stored_seqs(svc, e) == [(i + 1, i) for i in range(30)]
