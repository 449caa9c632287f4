"""Everything stateful sits behind `Store` (base.py): memory by default, Redis to scale."""

from push.store.base import Store, StoreUnavailable, Update

__all__ = ["Store", "StoreUnavailable", "Update"]
