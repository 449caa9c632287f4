"""The hostile-input cases against a service on the Redis store: the same answers as on memory."""

from __future__ import annotations

import pytest

from tests.push.hostile_cases import HTTP_CASES, WS_CASES
from tests.push.hostile_checks import check_after_bounds, check_http_case, check_ws_case


@pytest.fixture
async def redis_service(start_service, redis_server):
    return await start_service(**{"service.redis_url": redis_server.url})


@pytest.mark.parametrize("case", WS_CASES, ids=lambda c: c.name)
async def test_a_hostile_frame_gets_an_error_frame(redis_service, case):
    await check_ws_case(redis_service, case)


@pytest.mark.parametrize("case", HTTP_CASES, ids=lambda c: c.name)
async def test_a_hostile_body_gets_a_json_400(redis_service, case):
    await check_http_case(redis_service, case)


async def test_after_is_bounded_to_a_64_bit_integer(redis_service):
    await check_after_bounds(redis_service)
