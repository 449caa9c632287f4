"""The concurrency controller: bounds running diagnoses and AI calls.

Diagnoses beyond the bound wait in `queued` (their clients see that stage),
rather than all competing for the AI platforms' rate limits at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diagops.push.metrics import Metrics


class ConcurrencyController:
    def __init__(self, max_diagnoses: int, max_ai_calls: int, metrics: Metrics | None = None) -> None:
        self._diagnoses = asyncio.Semaphore(max_diagnoses)
        self._ai_calls = asyncio.Semaphore(max_ai_calls)
        self.metrics = metrics
        self.queued = 0
        self.active = 0
        self.ai_calls = 0

    @asynccontextmanager
    async def diagnosis_slot(self) -> AsyncIterator[None]:
        self._set(queued=1)
        try:
            await self._diagnoses.acquire()
        finally:
            self._set(queued=-1)
        self._set(active=1)
        try:
            yield
        finally:
            self._set(active=-1)
            self._diagnoses.release()

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
