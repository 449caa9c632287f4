"""Everything stateful sits behind `Store` (base.py): memory by default, Redis to scale."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diagops.spec import Spec


from diagops.push.store.base import RESYNC, Resync, Store, StoreUnavailable, Update

__all__ = ["RESYNC", "Resync", "Store", "StoreUnavailable", "Update"]


def open_store(spec: Spec) -> Store:
    """The store the spec asks for: Redis when `service.redis_url` is set, memory otherwise."""
    if spec.service.redis_url:
        from diagops.push.store.redis import RedisStore

        return RedisStore.from_spec(spec)
    from diagops.push.store.memory import MemoryStore, MemoryStoreConfig

    return MemoryStore(
        MemoryStoreConfig(
            retention_s=spec.store.retention_s,
            abandoned_after_s=spec.store.abandoned_after_s,
            max_events_per_execution=spec.store.max_events_per_execution,
            cache_max_entries=spec.cache.max_entries,
        )
    )
