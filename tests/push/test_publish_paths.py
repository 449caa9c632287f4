"""Batch publishing (POST /api/v1/events) and publish frames on /ws, on the memory store."""

from __future__ import annotations

import pytest

from tests.push import publish_checks as checks

CHECKS = [getattr(checks, name) for name in dir(checks) if name.startswith("check_")]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
async def test_publish_path(service, check):
    await check(service)
