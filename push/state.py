"""What one running service holds, in one typed object stored on the app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diagops.push.store.base import StoreUnavailable

if TYPE_CHECKING:
    from diagops.push.auth import TokenVerifier
    from diagops.push.connection import Connection
    from diagops.push.controller import ConcurrencyController
    from diagops.push.engine import SimulatedEngine
    from diagops.push.hub import Hub
    from diagops.push.limits import RateLimiter
    from diagops.push.metrics import Metrics
    from diagops.push.store.base import Store, Update
    from diagops.spec import Spec


@dataclass
class ServiceState:
    spec: Spec
    secret: str
    store: Store
    metrics: Metrics
    hub: Hub
    controller: ConcurrencyController
    engine: SimulatedEngine
    rate: RateLimiter
    verifier: TokenVerifier
    ready_check: Callable[[], Awaitable[None]] | None  # the store's ping, when it has a backend to lose
    connections: set[Connection] = field(default_factory=set)
    shutting_down: bool = False

    async def publish(
        self, execution_id: str, event: str, data: dict[str, Any], *, owner: str | None = None, lang: str | None = None,
        count_outcome: bool = True, idempotency_key: str | None = None,
    ) -> Update:
        """The one way an event enters the service (engine, cache replay, publish API):
        store it, then count final outcomes. Cache replays pass `count_outcome=False`:
        they are counted as cache hits, and counting them as diagnoses too would dilute
        the error-rate and duration objectives with instant successes."""
        update = await self.store.publish(execution_id, event, data, owner=owner, lang=lang,
                                          idempotency_key=idempotency_key)
        if update.final and count_outcome:
            await self._count_final(update, data)
        return update

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
