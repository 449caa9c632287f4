"""Batch and socket publishing on the Redis store: the same checks as on memory."""

from __future__ import annotations

import pytest

from tests.push import publish_checks as checks

CHECKS = [getattr(checks, name) for name in dir(checks) if name.startswith("check_")]


@pytest.fixture
async def redis_service(start_service, redis_server):
    return await start_service(**{"service.redis_url": redis_server.url})


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
async def test_publish_path(redis_service, check):
    await check(redis_service)
