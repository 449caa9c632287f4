"""Everything stateful sits behind `Store` (base.py): memory by default, Redis to scale."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diagops.spec import Spec


from diagops.push.store.base import RESYNC, OnOperation, Pingable, Resync, Store, StoreUnavailable, Update

__all__ = ["RESYNC", "OnOperation", "Pingable", "Resync", "Store", "StoreUnavailable", "Update", "open_store"]


def open_store(spec: Spec, *, on_operation: OnOperation | None = None) -> Store:
    """The store the spec asks for, not yet started: Redis when `service.redis_url` is set (a
    sharded store over several when it lists several), memory otherwise. Each backend's module
    is imported only when chosen."""
    shards = len(spec.service.redis_urls)
    if shards > 1:
        from diagops.push.store.sharded import ShardedStore

        return ShardedStore.from_spec(spec, on_operation=on_operation)
    if shards == 1:
        from diagops.push.store.redis import RedisStore

        return RedisStore.from_spec(spec, on_operation=on_operation)
    from diagops.push.store.memory import MemoryStore

    return MemoryStore.from_spec(spec, on_operation=on_operation)
