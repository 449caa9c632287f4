"""The memory store against the Store interface: what it reports, and what it does not have."""

from __future__ import annotations

import pytest

from diagops.push.store import Pingable, open_store
from diagops.push.store.memory import MemoryStore
from tests.push.store_calls import EVERY_OPERATION, call_every_operation
from tests.servicekit import test_spec as spec_for_test


async def test_the_memory_store_reports_every_operation_cache_included():
    seen: list[tuple[str, bool]] = []
    store = open_store(spec_for_test(), on_operation=lambda op, seconds, ok: seen.append((op, ok)))
    await store.start()
    try:
        await call_every_operation(store)
    finally:
        await store.close()
    assert seen == EVERY_OPERATION


async def test_a_failing_observer_never_fails_the_operation(caplog: pytest.LogCaptureFixture):
    def broken(op: str, seconds: float, ok: bool) -> None:
        raise RuntimeError("metrics bug")

    store = MemoryStore(on_operation=broken)
    assert (await store.publish("e", "progress", {"progress": 1}, owner="u")).seq == 1
    assert "store operation observer failed" in caplog.text


def test_only_a_store_with_a_backend_to_lose_can_be_pinged():
    from diagops.push.store.redis import RedisStore

    memory = open_store(spec_for_test())
    assert isinstance(memory, MemoryStore) and not hasattr(memory, "ping") and not isinstance(memory, Pingable)
    assert isinstance(open_store(spec_for_test(**{"service.redis_url": "redis://127.0.0.1:1/0"})), RedisStore)
    assert issubclass(RedisStore, Pingable)


async def test_readyz_answers_ready_with_the_memory_store_that_has_no_ping(service):
    async with service.session.get(f"{service.url}/readyz") as resp:
        assert (resp.status, await resp.json()) == (200, {"status": "ready"})
