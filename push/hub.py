"""Fan-out: from the store's live feed to the connections subscribed in this process.

Each subscription remembers the last seq it delivered. Live updates at or
below it are dropped (duplicates), the next one is delivered, and anything
past a gap, like a fresh subscription or a RESYNC, is filled from the store's
log first. That one rule gives replay-then-live with no gap and no duplicate,
whichever backend feeds it.

Each subscription also remembers the stream's epoch. An update of another epoch means the
stored stream was lost and started over (a Redis restarted empty): seq 1 again is then new,
not a duplicate. The subscription re-reads the snapshot, and when the epoch did change it
tells the client (`subscribed` with `reset: true`) and replays the new stream from seq 1.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Protocol

from diagops.push.store.base import Budgeted, Resync, StoreUnavailable, Update

if TYPE_CHECKING:
    from diagops.push.lifecycle import Snapshot
    from diagops.push.store.base import Store

log = logging.getLogger("diagops.hub")

RETRY_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


class Subscriber(Protocol):
    """What the hub writes to: a client connection (connection.Connection), or anything that
    records frames the same way. Both answer False when the frame was not taken."""

    def send_frame(self, frame: dict[str, Any]) -> bool: ...

    def send_update(self, update: Update) -> bool: ...


class Subscription:
    __slots__ = ("subscriber", "execution_id", "delivered", "epoch", "verify_epoch", "replaying", "pending", "task",
                 "active")

    def __init__(self, subscriber: Subscriber, execution_id: str, delivered: int) -> None:
        self.subscriber = subscriber
        self.execution_id = execution_id
        self.delivered = delivered
        self.epoch = ""  # the stream `delivered` counts in; "" until known
        self.verify_epoch = False  # True: an update of another epoch was seen, re-read the snapshot
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
        """The feed was interrupted: the store may have lost its streams too, so check epochs."""
        for subs in list(self._by_execution.values()):
            for sub in list(subs.values()):
                sub.verify_epoch = True
                if not sub.replaying:
                    self._start_catch_up(sub)

    def subscriptions(self, subscriber: Subscriber) -> Collection[str]:
        """The executions `subscriber` is subscribed to now (a live view)."""
        return self._by_subscriber.get(subscriber, {}).keys()

    async def subscribe(self, subscriber: Subscriber, execution_id: str, last_seq: int, epoch: str | None = None) -> int:
        """Register, answer `subscribed`, replay after last_seq, then go live; returns the latest seq.

        `epoch`, when the client sent one, names the stream its `last_seq` counts in: if the
        stored stream is another one, the answer says `reset` and the replay starts at seq 1."""
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
        sub.epoch = snapshot.epoch if snapshot is not None else ""
        reset = epoch is not None and snapshot is not None and epoch != snapshot.epoch
        sub.delivered = 0 if reset else min(last_seq, latest)
        frame = subscribed_frame(execution_id, latest, sub.epoch, reset=reset)
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
        if update.epoch and sub.epoch and update.epoch != sub.epoch:
            # Another stream under the same id: let the catch-up read which one is stored now.
            sub.verify_epoch = True
            sub.pending.append(update)
            if not sub.replaying:
                self._start_catch_up(sub)
        elif sub.replaying:
            sub.pending.append(update)
        elif update.seq == sub.delivered + 1:
            self._deliver(sub, update)
        elif update.seq > sub.delivered + 1:
            sub.pending.append(update)
            self._start_catch_up(sub)

    def _deliver(self, sub: Subscription, update: Update) -> None:
        sub.delivered = update.seq
        sub.epoch = sub.epoch or update.epoch
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
            verifying, sub.verify_epoch = sub.verify_epoch, False  # set again by an other-epoch update meanwhile
            try:
                if verifying:
                    snapshot = await self.store.snapshot(sub.execution_id)
                    if snapshot is not None and snapshot.epoch != sub.epoch:
                        self._reset(sub, snapshot)
                stored = await self.store.events_after(sub.execution_id, sub.delivered)
            except StoreUnavailable:
                sub.verify_epoch = sub.verify_epoch or verifying
                await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
                attempt += 1
                continue
            if not sub.active:
                return
            # No await from here on: the hand-over to live cannot interleave with dispatch.
            if sub.verify_epoch or any(not self._same_stream(sub, u) for u in stored):
                sub.verify_epoch = True  # the stream changed while it was read: read again
                continue
            if self._deliver_in_order(sub, stored):
                return
            pending = sorted((u for u in sub.pending if self._same_stream(sub, u)), key=lambda u: u.seq)
            sub.pending = []
            if self._deliver_in_order(sub, pending):
                return
            if any(u.seq > sub.delivered for u in pending):
                sub.pending = [u for u in pending if u.seq > sub.delivered]
                continue  # a gap the log did not hold yet when read: read again
            sub.replaying = False
            sub.task = None
            return

    @staticmethod
    def _same_stream(sub: Subscription, update: Update) -> bool:
        return not update.epoch or not sub.epoch or update.epoch == sub.epoch

    def _reset(self, sub: Subscription, snapshot: Snapshot) -> None:
        """The stored stream started over: say so, and count from its seq 0."""
        log.info("execution %s: stream started over (epoch %s -> %s)", sub.execution_id, sub.epoch, snapshot.epoch)
        sub.epoch = snapshot.epoch
        sub.delivered = 0
        sub.subscriber.send_frame(subscribed_frame(sub.execution_id, snapshot.seq, snapshot.epoch, reset=True))

    def _deliver_in_order(self, sub: Subscription, updates: list[Update]) -> bool:
        """Deliver the contiguous run after `delivered`; True when the subscription ended."""
        for update in updates:
            if update.seq == sub.delivered + 1:
                self._deliver(sub, update)
                if update.final:
                    return True
        return False


def subscribed_frame(execution_id: str, seq: int, epoch: str, *, reset: bool = False) -> dict[str, Any]:
    """The contract's `subscribed`: the latest stored seq, the stream's epoch, and `reset` only
    when the client's stream was not the stored one."""
    frame: dict[str, Any] = {"type": "subscribed", "execution_id": execution_id, "seq": seq, "epoch": epoch}
    if reset:
        frame["reset"] = True
    return frame
