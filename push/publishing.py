"""The publishing path: the one way an event enters the service, and the result cache.

Built before the engine (which publishes through it) and shared with the HTTP
handlers, so an event stored by the engine, by a cache replay or by the publish
API is counted by the same rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from diagops.push.store.base import StoreUnavailable

if TYPE_CHECKING:
    from diagops.push.metrics import Metrics
    from diagops.push.store.base import Store, Update

CachedEvents = list[tuple[str, dict[str, Any]]]


class Publisher:
    def __init__(self, store: Store, metrics: Metrics, *, cache_ttl_s: float) -> None:
        self.store = store
        self.metrics = metrics
        self.cache_ttl_s = cache_ttl_s  # 0 turns the result cache off, both ways

    async def publish(
        self, execution_id: str, event: str, data: dict[str, Any], *, owner: str | None = None, lang: str | None = None,
        count_outcome: bool = True, idempotency_key: str | None = None,
    ) -> Update:
        """Store the event, then count final outcomes. Cache replays pass `count_outcome=False`:
        they are counted as cache hits, and counting them as diagnoses too would dilute
        the error-rate and duration objectives with instant successes."""
        update = await self.store.publish(execution_id, event, data, owner=owner, lang=lang,
                                          idempotency_key=idempotency_key)
        if update.final and count_outcome:
            await self._count_final(update, data)
        return update

    async def cached_result(self, key: str) -> CachedEvents | None:
        """The events of an equal diagnosis that completed within the TTL; counts the hit or miss."""
        cached = await self.store.cache_get(key) if self.cache_ttl_s > 0 else None
        self.metrics.cache_requests.labels("hit" if cached else "miss").inc()
        return cached or None

    async def replay(self, execution_id: str, events: CachedEvents, *, owner: str, lang: str) -> None:
        """A cached diagnosis as a new execution owned by `owner`: fresh seq and timestamps."""
        first_owner: str | None = owner
        for event, data in events:
            await self.publish(execution_id, event, data, owner=first_owner, lang=lang, count_outcome=False)
            first_owner = None  # the first event creates the execution; the rest only follow it

    async def cache_result(self, key: str, events: CachedEvents) -> None:
        """Offer a completed diagnosis to the result cache (the engine calls this)."""
        if self.cache_ttl_s > 0:
            await self.store.cache_put(key, events, self.cache_ttl_s)

    async def _count_final(self, update: Update, data: dict[str, Any]) -> None:
        status = "complete" if update.event == "complete" else "error"
        self.metrics.diagnoses.labels(status).inc()
        if status == "error":
            self.metrics.errors.labels(str(data.get("error_type", "INTERNAL"))).inc()
        try:
            snapshot = await self.store.snapshot(update.execution_id)
        except StoreUnavailable:
            return  # the event is stored: a lost duration sample must not fail its publisher
        if snapshot is not None and snapshot.created_at:
            self.metrics.diagnosis_duration.observe(max(update.accepted_at - snapshot.created_at, 0.0))
