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
from typing import TYPE_CHECKING

from diagops.push.store.base import Resync, StoreUnavailable, Update

if TYPE_CHECKING:
    from diagops.push.connection import Connection
    from diagops.push.store.base import Store

log = logging.getLogger("diagops.hub")

RETRY_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


class Subscription:
    __slots__ = ("conn", "execution_id", "delivered", "replaying", "pending", "task")

    def __init__(self, conn: Connection, execution_id: str, delivered: int) -> None:
        self.conn = conn
        self.execution_id = execution_id
        self.delivered = delivered
        self.replaying = True
        self.pending: list[Update] = []
        self.task: asyncio.Task[None] | None = None


class Hub:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._by_execution: dict[str, dict[Connection, Subscription]] = {}

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

    async def subscribe(self, conn: Connection, execution_id: str, last_seq: int) -> int:
        """Register, answer `subscribed`, replay after last_seq, then go live; returns the latest seq."""
        self.unsubscribe(conn, execution_id)
        sub = Subscription(conn, execution_id, last_seq)
        self._by_execution.setdefault(execution_id, {})[conn] = sub
        conn.subscriptions[execution_id] = sub
        try:
            # Read after registering: anything newer reaches `pending`, nothing falls between.
            snapshot = await self.store.snapshot(execution_id)
        except BaseException:
            self.unsubscribe(conn, execution_id)
            raise
        latest = snapshot.seq if snapshot is not None else 0
        sub.delivered = min(last_seq, latest)
        conn.send_frame({"type": "subscribed", "execution_id": execution_id, "seq": latest})
        if snapshot is not None and snapshot.final and sub.delivered >= latest and not sub.pending:
            self.unsubscribe(conn, execution_id)  # nothing left to send, nothing will follow
            return latest
        self._start_catch_up(sub)
        return latest

    def unsubscribe(self, conn: Connection, execution_id: str) -> None:
        sub = conn.subscriptions.pop(execution_id, None)
        if sub is None:
            return
        if sub.task is not None and sub.task is not asyncio.current_task():
            sub.task.cancel()
        subs = self._by_execution.get(execution_id)
        if subs is not None:
            subs.pop(conn, None)
            if not subs:
                del self._by_execution[execution_id]

    def drop(self, conn: Connection) -> None:
        for execution_id in list(conn.subscriptions):
            self.unsubscribe(conn, execution_id)

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
        sub.conn.send_update(update)
        if update.final:
            # Nothing follows a final event: free the slot for the client's next diagnosis.
            self.unsubscribe(sub.conn, sub.execution_id)

    def _start_catch_up(self, sub: Subscription) -> None:
        sub.replaying = True
        sub.task = asyncio.get_running_loop().create_task(self._catch_up(sub))

    async def _catch_up(self, sub: Subscription) -> None:
        attempt = 0
        while sub.conn.subscriptions.get(sub.execution_id) is sub:
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
