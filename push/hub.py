"""Fan-out: from the store's live feed to the connections subscribed in this process.

Each subscription remembers the last seq it delivered. Live updates at or
below it are dropped (duplicates), the next one is delivered, and anything
past a gap, like a fresh subscription or a RESYNC, is filled from the store's
log first. That one rule gives replay-then-live with no gap and no duplicate,
whichever backend feeds it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Protocol

from diagops.push.store.base import Budgeted, Resync, StoreUnavailable, Update

if TYPE_CHECKING:
    from diagops.push.store.base import Store

log = logging.getLogger("diagops.hub")

RETRY_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


class Subscriber(Protocol):
    """What the hub writes to: a client connection (connection.Connection), or anything that
    records frames the same way. Both answer False when the frame was not taken."""

    def send_frame(self, frame: dict[str, Any]) -> bool: ...

    def send_update(self, update: Update) -> bool: ...


class Subscription:
    __slots__ = ("subscriber", "execution_id", "delivered", "replaying", "pending", "task", "active")

    def __init__(self, subscriber: Subscriber, execution_id: str, delivered: int) -> None:
        self.subscriber = subscriber
        self.execution_id = execution_id
        self.delivered = delivered
        self.replaying = True
        self.pending: list[Update] = []
        self.task: asyncio.Task[None] | None = None
        self.active = True  # False once unsubscribed: a catch-up still running stops


class Hub:
    """Owns the subscription registry of this process, by execution (for fan-out) and by
    subscriber (for its limit and its departure); nothing else changes either."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._by_execution: dict[str, dict[Subscriber, Subscription]] = {}
        self._by_subscriber: dict[Subscriber, dict[str, Subscription]] = {}
        # A store that trims within a budget says where an execution's stored stream now starts.
        self._trimmed = store.trimmed if isinstance(store, Budgeted) else None

    def delivery_floor(self, execution_id: str) -> int | None:
        """The lowest seq every subscriber of the execution here has been sent (None: nobody
        subscribes). A budgeted store may drop events up to it and no further."""
        subs = self._by_execution.get(execution_id)
        if not subs:
            return None
        return min(sub.delivered for sub in subs.values())

    async def run(self) -> None:
        """Consume the store's live feed until cancelled."""
        async for item in self.store.listen():
            if isinstance(item, Resync):
                self.resync()
            else:
                self.dispatch(item)

    def dispatch(self, update: Update) -> None:
        subs = self._by_execution.get(update.execution_id)
        if not subs:
            return
        for sub in list(subs.values()):
            self._offer(sub, update)

    def resync(self) -> None:
        for subs in list(self._by_execution.values()):
            for sub in list(subs.values()):
                if not sub.replaying:
                    self._start_catch_up(sub)

    def subscriptions(self, subscriber: Subscriber) -> Collection[str]:
        """The executions `subscriber` is subscribed to now (a live view)."""
        return self._by_subscriber.get(subscriber, {}).keys()

    async def subscribe(self, subscriber: Subscriber, execution_id: str, last_seq: int) -> int:
        """Register, answer `subscribed`, replay after last_seq, then go live; returns the latest seq."""
        self.unsubscribe(subscriber, execution_id)
        sub = Subscription(subscriber, execution_id, last_seq)
        self._by_execution.setdefault(execution_id, {})[subscriber] = sub
        self._by_subscriber.setdefault(subscriber, {})[execution_id] = sub
        try:
            # Read after registering: anything newer reaches `pending`, nothing falls between.
            snapshot = await self.store.snapshot(execution_id)
        except BaseException:
            self.unsubscribe(subscriber, execution_id)
            raise
        latest = snapshot.seq if snapshot is not None else 0
        sub.delivered = min(last_seq, latest)
        frame: dict[str, Any] = {"type": "subscribed", "execution_id": execution_id, "seq": latest}
        trimmed = self._trimmed(execution_id) if self._trimmed is not None and snapshot is not None else 0
        if trimmed > sub.delivered:
            # Events up to `trimmed` were evicted: say so, and replay what is still stored.
            frame["trimmed"] = trimmed
            sub.delivered = trimmed
        subscriber.send_frame(frame)
        if snapshot is not None and snapshot.final and sub.delivered >= latest and not sub.pending:
            self.unsubscribe(subscriber, execution_id)  # nothing left to send, nothing will follow
            return latest
        self._start_catch_up(sub)
        return latest

    def unsubscribe(self, subscriber: Subscriber, execution_id: str) -> None:
        own = self._by_subscriber.get(subscriber)
        sub = own.pop(execution_id, None) if own is not None else None
        if sub is None:
            return
        sub.active = False
        if sub.task is not None and sub.task is not asyncio.current_task():
            sub.task.cancel()
        subs = self._by_execution.get(execution_id)
        if subs is not None:
            subs.pop(subscriber, None)
            if not subs:
                del self._by_execution[execution_id]

    def drop(self, subscriber: Subscriber) -> None:
        """The subscriber is gone: end all its subscriptions and forget it."""
        for execution_id in list(self._by_subscriber.get(subscriber, ())):
            self.unsubscribe(subscriber, execution_id)
        self._by_subscriber.pop(subscriber, None)

    def _offer(self, sub: Subscription, update: Update) -> None:
        if sub.replaying:
            sub.pending.append(update)
        elif update.seq == sub.delivered + 1:
            self._deliver(sub, update)
        elif update.seq > sub.delivered + 1:
            sub.pending.append(update)
            self._start_catch_up(sub)

    def _deliver(self, sub: Subscription, update: Update) -> None:
        sub.delivered = update.seq
        sub.subscriber.send_update(update)
        if update.final:
            # Nothing follows a final event: free the slot for the client's next diagnosis.
            self.unsubscribe(sub.subscriber, sub.execution_id)

    def _start_catch_up(self, sub: Subscription) -> None:
        sub.replaying = True
        sub.task = asyncio.get_running_loop().create_task(self._catch_up(sub))

    async def _catch_up(self, sub: Subscription) -> None:
        attempt = 0
        while sub.active:
            try:
                stored = await self.store.events_after(sub.execution_id, sub.delivered)
            except StoreUnavailable:
                await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
                attempt += 1
                continue
            # No await from here on: the hand-over to live cannot interleave with dispatch.
            if self._deliver_in_order(sub, stored):
                return
            pending, sub.pending = sorted(sub.pending, key=lambda u: u.seq), []
            if self._deliver_in_order(sub, pending):
                return
            if any(u.seq > sub.delivered for u in pending):
                sub.pending = [u for u in pending if u.seq > sub.delivered]
                continue  # a gap the log did not hold yet when read: read again
            sub.replaying = False
            sub.task = None
            return

    def _deliver_in_order(self, sub: Subscription, updates: list[Update]) -> bool:
        """Deliver the contiguous run after `delivered`; True when the subscription ended."""
        for update in updates:
            if update.seq == sub.delivered + 1:
                self._deliver(sub, update)
                if update.final:
                    return True
        return False
