"""One call of each operation of the Store interface, for tests of what a store reports."""

from __future__ import annotations

import pytest

from diagops.push.lifecycle import PublishRefused
from diagops.push.store.base import Store

# What an operation observer sees for `call_every_operation`, in order.
EVERY_OPERATION = [
    ("publish", True), ("publish", True), ("events_after", True), ("snapshot", True),
    ("cache_put", True), ("cache_get", True),
]


async def call_every_operation(store: Store) -> None:
    """Every core operation once, with a refused publish (an answer, so reported as ok)."""
    await store.publish("e", "progress", {"progress": 1}, owner="u")
    with pytest.raises(PublishRefused):
        await store.publish("e", "progress", {"progress": 0})
    await store.events_after("e", 0)
    await store.snapshot("e")
    await store.cache_put("k", [], 1)
    await store.cache_get("k")
