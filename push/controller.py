"""The concurrency controller: bounds running diagnoses and AI calls, and admits new ones.

Diagnoses beyond the bound wait in `queued` (their clients see that stage),
rather than all competing for the AI platforms' rate limits at once. Waiting is
only worth it while it is short: `admit` refuses a new diagnosis when the
queue's expected wait (queue length / measured service rate) passes
`limits.max_queue_wait_s`, or when its user already has
`limits.max_diagnoses_per_user` active or queued, so a refusal with
Retry-After reaches the client at once instead of a timeout later.

The queue is served round-robin across users: one user's thousand queued
diagnoses delay another user's one by at most one slot turn per user ahead.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diagops.push.metrics import Metrics

SLOT_TIME_WEIGHT = 0.2  # EWMA weight of each finished slot's hold time in the measured mean


class Refused(Exception):
    """A diagnosis the controller will not queue: why (a metric label), a sentence, and Retry-After."""

    reason = ""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class Overloaded(Refused):
    """The queue's expected wait is over the bound (HTTP 503 `overloaded`)."""

    reason = "overloaded"


class TooManyDiagnoses(Refused):
    """The user is at the per-user bound (HTTP 429 `too_many_diagnoses`)."""

    reason = "too_many_diagnoses"


@dataclass(eq=False)
class Admission:
    """One admitted diagnosis: counted as queued for its user from admission until its slot ends."""

    user: str
    done: bool = field(default=False, repr=False)


class ConcurrencyController:
    def __init__(self, max_diagnoses: int, max_ai_calls: int, metrics: Metrics | None = None, *,
                 max_queue_wait_s: float | None = None, max_per_user: int | None = None,
                 expected_slot_s: float | None = None) -> None:
        self.max_diagnoses = max_diagnoses
        self.expected_slot_s = expected_slot_s  # the engine's nominal diagnosis time, until one is measured
        self.max_queue_wait_s = max_queue_wait_s
        self.max_per_user = max_per_user
        self._ai_calls = asyncio.Semaphore(max_ai_calls)
        self.metrics = metrics
        self.queued = 0
        self.active = 0
        self.ai_calls = 0
        self.per_user: dict[str, int] = {}  # admitted and not yet finished, by user
        self._running = 0  # slots granted (a waiter granted but not yet resumed holds one)
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()  # user -> waiters, in turn order
        self._slot_s: float | None = None  # measured mean time a diagnosis holds its slot
        self._started: dict[int, float] = {}  # running slots -> monotonic start, for the cold-start estimate

    # -- admission ---------------------------------------------------------------------------

    def service_rate(self) -> float | None:
        """Diagnoses the slots finish per second: slots / mean slot time. Before any has finished, the
        engine's nominal time stands in, or the oldest running one's age if longer (a lower bound that
        grows while none finishes): a burst at start-up is not all admitted on no evidence."""
        slot_s = self._slot_s
        if slot_s is None:
            oldest = time.monotonic() - min(self._started.values()) if self._started else 0.0
            slot_s = max(self.expected_slot_s or 0.0, oldest)
        if not slot_s or slot_s <= 0:
            return None
        return self.max_diagnoses / slot_s

    def expected_wait_s(self) -> float:
        """How long a diagnosis admitted now would wait for a slot: it needs one more slot to finish
        than there are diagnoses queued beyond the free slots, at the measured service rate."""
        ahead = self.active + self.queued - self.max_diagnoses
        rate = self.service_rate()
        if ahead < 0 or rate is None:
            return 0.0
        return (ahead + 1) / rate

    def admit(self, user: str) -> Admission:
        """Count a new diagnosis for `user`, or raise Refused (per-user bound first, then the queue's wait)."""
        if self.max_per_user is not None and self.per_user.get(user, 0) >= self.max_per_user:
            raise TooManyDiagnoses(f"you already have {self.max_per_user} diagnoses running or queued; "
                                   "start another when one finishes", self._user_retry_after())
        wait = self.expected_wait_s()
        if self.max_queue_wait_s is not None and wait > self.max_queue_wait_s:
            retry = max(1, math.ceil(wait - self.max_queue_wait_s))
            raise Overloaded(f"the service is busy: a new diagnosis would wait about {wait:.0f} s for a slot "
                             f"(the bound is {self.max_queue_wait_s:g} s); retry in {retry} s", retry)
        self.per_user[user] = self.per_user.get(user, 0) + 1
        self._set(queued=1)
        return Admission(user)

    def abandon(self, admission: Admission) -> None:
        """An admitted diagnosis that never reached the engine (its first event failed to store)."""
        if not admission.done:
            admission.done = True
            self._set(queued=-1)
            self._forget(admission.user)

    def _user_retry_after(self) -> int:
        """One slot turn: when, at the measured rate, a running diagnosis is expected to finish."""
        slot_s = self._slot_s or self.expected_slot_s
        return max(1, math.ceil(slot_s)) if slot_s else 1

    def _forget(self, user: str) -> None:
        left = self.per_user.get(user, 0) - 1
        if left > 0:
            self.per_user[user] = left
        else:
            self.per_user.pop(user, None)

    # -- slots -------------------------------------------------------------------------------

    @asynccontextmanager
    async def diagnosis_slot(self, admission: Admission | None = None) -> AsyncIterator[None]:
        """Wait for a slot (in the user's round-robin turn), hold it for the body, then hand it on."""
        admission = admission or self.admit_unchecked("")
        try:
            await self._acquire(admission.user)
        except BaseException:
            self.abandon(admission)
            raise
        self._set(queued=-1, active=1)
        token = id(admission)
        started = self._started[token] = time.monotonic()
        try:
            yield
        finally:
            self._started.pop(token, None)
            self._observe_slot(time.monotonic() - started)
            admission.done = True
            self._forget(admission.user)
            self._set(active=-1)
            self._release()

    def admit_unchecked(self, user: str) -> Admission:
        """Count a diagnosis without the bounds (callers that run the engine directly)."""
        self.per_user[user] = self.per_user.get(user, 0) + 1
        self._set(queued=1)
        return Admission(user)

    async def _acquire(self, user: str) -> None:
        if self._running < self.max_diagnoses and not self._waiting:
            self._running += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(user, deque()).append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release()  # granted just as it was cancelled: hand the slot on
            else:
                self._drop_waiter(user, waiter)
            raise

    def _release(self) -> None:
        """Give the freed slot to the next user in turn (who then goes to the back of the turn order)."""
        while self._waiting:
            user, waiters = next(iter(self._waiting.items()))
            waiter = waiters.popleft()
            if waiters:
                self._waiting.move_to_end(user)
            else:
                del self._waiting[user]
            if not waiter.done():
                waiter.set_result(None)
                return
        self._running -= 1

    def _drop_waiter(self, user: str, waiter: asyncio.Future[None]) -> None:
        waiters = self._waiting.get(user)
        if waiters is not None and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self._waiting[user]

    def _observe_slot(self, seconds: float) -> None:
        self._slot_s = seconds if self._slot_s is None else (
            (1 - SLOT_TIME_WEIGHT) * self._slot_s + SLOT_TIME_WEIGHT * seconds)

    @asynccontextmanager
    async def ai_call(self) -> AsyncIterator[None]:
        async with self._ai_calls:
            self.ai_calls += 1
            try:
                yield
            finally:
                self.ai_calls -= 1

    def _set(self, queued: int = 0, active: int = 0) -> None:
        self.queued += queued
        self.active += active
        if self.metrics is not None:
            self.metrics.diagnoses_queued.set(self.queued)
            self.metrics.executions_active.set(self.active)
            self.metrics.queue_wait_expected.set(self.expected_wait_s())
