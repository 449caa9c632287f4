"""The built-in simulated diagnosis engine.

It behaves like the real backend from a watcher's point of view: stages in
order, one AI call per platform with a realistic latency spread, bounded by the
concurrency controller, failures injected by rate and type, a report at the
end. `speed` scales every delay (1.0 ≈ 20 s a diagnosis; 50 ≈ 0.4 s).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from diagops.push.controller import Admission, ConcurrencyController
from diagops.push.diagnosis import DiagnosisRequest
from diagops.push.errors import friendly
from diagops.push.store.base import StoreUnavailable, Update
from diagops.spec.model import EngineSpec

log = logging.getLogger("diagops.engine")

Publish = Callable[[str, str, dict[str, Any]], Awaitable[Update]]
CachePut = Callable[[str, list[tuple[str, dict[str, Any]]]], Awaitable[None]]

TEXTS: dict[str, dict[str, str]] = {
    "queued": {"zh": "排队中，即将开始诊断...", "en": "Queued, the diagnosis starts shortly..."},
    "ai_fetching": {"zh": "正在获取 AI 数据...", "en": "Fetching answers from the AI platforms..."},
    "platform_done": {"zh": "已获取 {platform} 的回答（{done}/{total}）", "en": "Got {platform}'s answers ({done}/{total})"},
    "analyzing": {"zh": "正在分析品牌表现...", "en": "Analysing how the brand is seen..."},
    "generating_report": {"zh": "正在生成诊断报告...", "en": "Writing the report..."},
    "complete": {"zh": "诊断完成", "en": "Diagnosis complete"},
}

# Seconds at speed 1.0.
AI_CALL_MEDIAN_S = 3.0
AI_CALL_RANGE_S = (0.8, 10.0)
ANALYZING_S = 3.0
GENERATING_S = 2.5
PUBLISH_RETRIES_S = (0.05, 0.2, 0.5, 1.0, 2.0)
NOMINAL_DIAGNOSIS_S = 20.0  # about how long one takes at speed 1.0 (engine.speed's documented figure)


def nominal_duration_s(spec: EngineSpec) -> float:
    """The admission controller's estimate of a diagnosis's time before it has measured one."""
    return NOMINAL_DIAGNOSIS_S / spec.speed


def text(key: str, lang: str, **values: Any) -> str:
    return TEXTS[key]["en" if lang == "en" else "zh"].format(**values)


def queued_event(lang: str) -> tuple[str, dict[str, Any]]:
    """The first event of every diagnosis, stored before the 202 answers."""
    return "progress", {"progress": 0, "stage": "queued", "status": "queued", "status_text": text("queued", lang)}


class InjectedFailure(Exception):
    def __init__(self, platform: str) -> None:
        super().__init__(platform)
        self.platform = platform


class SimulatedEngine:
    def __init__(self, spec: EngineSpec, controller: ConcurrencyController, publish: Publish, cache_put: CachePut) -> None:
        self.spec = spec
        self.controller = controller
        self._publish = publish
        self._cache_put = cache_put
        self._rng = random.Random(spec.seed)
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, execution_id: str, request: DiagnosisRequest, first: tuple[str, dict[str, Any]],
              admission: Admission | None = None) -> None:
        """Run a diagnosis in the background; `admission` is the controller's count of it from the request."""
        task = asyncio.get_running_loop().create_task(self._run(execution_id, request, [first], admission))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def _delay(self, seconds: float) -> float:
        return seconds / self.spec.speed

    async def _run(self, execution_id: str, request: DiagnosisRequest, events: list[tuple[str, dict[str, Any]]],
                   admission: Admission | None = None) -> None:
        lang = request.lang
        lock = asyncio.Lock()

        async def emit(event: str, data: dict[str, Any]) -> None:
            async with lock:  # progress must never go backwards: publish one at a time
                if self.spec.added_latency_s:
                    await asyncio.sleep(self.spec.added_latency_s)
                await self._publish_with_retry(execution_id, event, data)
                events.append((event, data))

        try:
            async with self.controller.diagnosis_slot(admission):
                await emit("progress", {"progress": 5, "stage": "ai_fetching", "status": "processing",
                                        "status_text": text("ai_fetching", lang)})
                answers = await self._fetch_all(request, lang, emit)
                await emit("progress", {"progress": 70, "stage": "analyzing", "status": "processing",
                                        "status_text": text("analyzing", lang)})
                await asyncio.sleep(self._delay(ANALYZING_S))
                await emit("progress", {"progress": 90, "stage": "generating_report", "status": "processing",
                                        "status_text": text("generating_report", lang)})
                await asyncio.sleep(self._delay(GENERATING_S))
                report = self._report(request, answers)
                await emit("complete", {"progress": 100, "stage": "generating_report", "status": "complete",
                                        "status_text": text("complete", lang), "report": report})
            await self._cache_put(request.cache_key(), events)
        except InjectedFailure as failure:
            entry = friendly(self.spec.failure_type)
            await emit("error", {
                "error": entry.message(lang),
                "error_type": self.spec.failure_type,
                "error_details": {"platform": failure.platform, "injected": True},
            })
        except asyncio.CancelledError:
            raise
        except StoreUnavailable:
            log.error("diagnosis %s abandoned: the store stayed unavailable", execution_id)
        except Exception:
            log.exception("diagnosis %s failed inside the engine", execution_id)

    async def _fetch_all(self, request: DiagnosisRequest, lang: str, emit: Callable[[str, dict[str, Any]], Awaitable[None]]) -> dict[str, int]:
        platforms = list(request.platforms)
        failing = self._rng.choice(platforms) if self._rng.random() < self.spec.failure_rate else None
        done = 0
        answers: dict[str, int] = {}

        async def call(platform: str) -> None:
            nonlocal done
            async with self.controller.ai_call():
                await asyncio.sleep(self._delay(self._ai_latency()))
            if platform == failing:
                raise InjectedFailure(platform)
            answers[platform] = self._rng.randint(0, 10)
            done += 1
            await emit("progress", {
                "progress": 5 + (60 * done) // len(platforms), "stage": "ai_fetching", "status": "processing",
                "status_text": text("platform_done", lang, platform=platform, done=done, total=len(platforms)),
            })

        tasks = [asyncio.ensure_future(call(p)) for p in platforms]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
        return answers

    def _ai_latency(self) -> float:
        low, high = AI_CALL_RANGE_S
        return min(high, max(low, self._rng.lognormvariate(0, 0.5) * AI_CALL_MEDIAN_S))

    def _report(self, request: DiagnosisRequest, mentions: dict[str, int]) -> dict[str, Any]:
        platforms = [
            {"platform": p, "mentions": mentions.get(p, 0), "sentiment": round(self._rng.uniform(-1, 1), 2),
             "rank": self._rng.randint(1, 10)}
            for p in request.platforms
        ]
        visibility = sum(1 for p in platforms if p["mentions"] > 0) / len(platforms)
        return {
            "brand": request.brand,
            "questions": list(request.questions),
            "platforms": platforms,
            "score": round(100 * visibility * (0.5 + 0.5 * self._rng.random())),
            "summary": (f"{request.brand} appears on {round(visibility * 100)}% of platforms"
                        if request.lang == "en" else f"{request.brand} 在 {round(visibility * 100)}% 的平台上被提及"),
        }

    async def _publish_with_retry(self, execution_id: str, event: str, data: dict[str, Any]) -> Update:
        for pause in (*PUBLISH_RETRIES_S, None):
            try:
                return await self._publish(execution_id, event, data)
            except StoreUnavailable:
                if pause is None:
                    raise
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")
