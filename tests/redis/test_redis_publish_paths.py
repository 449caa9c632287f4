"""Batch and socket publishing on the Redis store: the same checks as on memory."""

from __future__ import annotations

import json

import pytest

from tests.push import publish_checks as checks
from tests.push.wsutil import recv_json

CHECKS = [getattr(checks, name) for name in dir(checks) if name.startswith("check_")]


@pytest.fixture
async def redis_service(start_service, redis_server):
    return await start_service(**{"service.redis_url": redis_server.url})


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
async def test_publish_path(redis_service, check):
    await check(redis_service)


async def test_pipelined_socket_publishes_reach_redis_in_batches(redis_service, redis_server) -> None:
    """Frames that arrive while a store call is in flight go together in the next one: far fewer
    append script calls than frames, every frame still answered in order by `ref`."""
    from redis.asyncio import Redis

    async def evalsha_calls() -> int:
        raw = Redis.from_url(redis_server.url)
        try:
            return (await raw.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0)
        finally:
            await raw.aclose()

    svc = redis_service
    ids = [checks.new_id() for _ in range(60)]
    before = await evalsha_calls()
    publisher = await svc.session.ws_connect(svc.ws_url, headers=svc.auth("engine", ("publish",)))
    for n, execution_id in enumerate(ids):  # all sent before reading any answer
        await publisher.send_str(json.dumps({"type": "publish", "ref": f"r{n}", **checks.progress(execution_id, 1, owner="alice")}))
    answers = [await recv_json(publisher) for _ in ids]
    await publisher.close()
    assert [(a["type"], a["ref"], a["seq"]) for a in answers] == [("published", f"r{n}", 1) for n in range(60)]
    calls = await evalsha_calls() - before
    assert 1 <= calls <= 10, calls
