"""The simulated engine, the concurrency controller and the friendly-error table."""

from __future__ import annotations

import asyncio

import pytest

from diagops.push.controller import ConcurrencyController
from diagops.push.errors import ERROR_TABLE, complete_error_data, friendly
from diagops.push.protocol import ERROR_TYPES
from tests.push.wsutil import eventually, updates, watch_to_end


async def test_injected_failures_end_in_a_friendly_error_event(start_service):
    svc = await start_service(**{"engine.failure_rate": 1.0, "engine.failure_type": "TIMEOUT"})
    eid = (await svc.start_diagnosis(lang="en"))["execution_id"]
    final = updates(await watch_to_end(await svc.connect(), eid))[-1]
    assert final["event"] == "error"
    data = final["data"]
    assert data["error_type"] == "TIMEOUT" and data["retryable"] is True
    assert data["message"] == ERROR_TABLE["TIMEOUT"].en and data["error_details"]["injected"] is True
    assert svc.state.metrics.errors.labels("TIMEOUT")._value.get() == 1
    assert svc.state.metrics.diagnoses.labels("error")._value.get() == 1


async def test_added_latency_delays_every_event(start_service):
    svc = await start_service(**{"engine.added_latency_s": 0.05, "engine.platforms": ["a"]})
    eid = (await svc.start_diagnosis())["execution_id"]
    loop = asyncio.get_running_loop()
    began = loop.time()
    events = updates(await watch_to_end(await svc.connect(), eid))
    # 4 engine events after `queued` (ai_fetching, platform done, analyzing, report, complete = 5), each delayed.
    assert loop.time() - began >= 0.05 * (len(events) - 1)


async def test_diagnoses_beyond_the_bound_wait_visibly_in_queued(start_service):
    svc = await start_service(**{"engine.max_concurrent_diagnoses": 1, "engine.speed": 5.0})
    first = (await svc.start_diagnosis(brand="one"))["execution_id"]
    second = (await svc.start_diagnosis(brand="two"))["execution_id"]
    await eventually(lambda: svc.state.controller.active == 1 and svc.state.controller.queued == 1,
                     what="one running, one queued")
    snap = await svc.state.store.snapshot(second)
    assert snap.stage == "queued" and snap.status == "queued"
    assert svc.state.metrics.diagnoses_queued._value.get() == 1
    ws = await svc.connect()
    await watch_to_end(ws, first, timeout=20)
    assert updates(await watch_to_end(ws, second, timeout=20))[-1]["event"] == "complete"


async def test_the_controller_never_runs_more_than_its_bound():
    """Six diagnoses of three AI calls each, against bounds of 2 diagnoses and 3 calls: both
    bounds are reached (6 calls want to run) and neither is passed, counted by the callers."""
    controller = ConcurrencyController(max_diagnoses=2, max_ai_calls=3)
    running = {"diag": 0, "ai": 0}
    peak = {"diag": 0, "ai": 0}
    gate = asyncio.Event()

    def enter(kind: str) -> None:
        running[kind] += 1
        peak[kind] = max(peak[kind], running[kind])

    async def ai_call() -> None:
        async with controller.ai_call():
            enter("ai")
            await gate.wait()
            running["ai"] -= 1

    async def diagnosis() -> None:
        async with controller.diagnosis_slot():
            enter("diag")
            await asyncio.gather(*(ai_call() for _ in range(3)))
            running["diag"] -= 1

    tasks = [asyncio.create_task(diagnosis()) for _ in range(6)]
    await eventually(lambda: running["diag"] >= 2 and running["ai"] >= 3, what="both bounds reached")
    assert (controller.active, controller.queued, controller.ai_calls) == (2, 4, 3)
    gate.set()
    await asyncio.gather(*tasks)
    assert peak == {"diag": 2, "ai": 3}
    assert (controller.active, controller.queued, controller.ai_calls) == (0, 0, 0)


# The whole table, written out: users read these sentences and clients act on `retryable`,
# so any change to them must show up here as a deliberate edit.
PINNED_ERRORS = {
    "AI_PLATFORM_ERROR": (True, "部分 AI 平台暂时无法访问，请稍后重试。",
                          "One of the AI platforms is not answering right now. Please try again in a few minutes."),
    "TIMEOUT": (True, "诊断超时，请稍后重试或减少问题数量。",
                "The diagnosis took too long. Try again, or ask fewer questions at once."),
    "RATE_LIMITED": (True, "请求过于频繁，请等待一分钟后再试。",
                     "Too many requests right now. Please wait a minute and try again."),
    "INVALID_REQUEST": (False, "请求内容有误，请检查品牌名称和问题后重新提交。",
                        "The request is not valid. Check the brand name and questions, then submit again."),
    "INTERNAL": (True, "服务内部出错，我们已记录该问题，请稍后重试。",
                 "Something went wrong on our side. It has been logged; please try again later."),
}


def test_the_error_table_is_exactly_the_pinned_one():
    assert set(ERROR_TYPES) == set(PINNED_ERRORS)
    got = {t: (e.retryable, e.zh, e.en) for t, e in ERROR_TABLE.items()}
    assert got == PINNED_ERRORS
    for error_type, (_retryable, zh, en) in PINNED_ERRORS.items():
        entry = friendly(error_type)
        assert (entry.error_type, entry.message("zh"), entry.message("en")) == (error_type, zh, en)


@pytest.mark.parametrize("data", [{"error_type": "SOMETHING_NEW"}, {}])
def test_an_unknown_or_missing_error_type_gets_the_internal_entry(data):
    assert friendly("SOMETHING_NEW") is ERROR_TABLE["INTERNAL"]
    retryable, _zh, en = PINNED_ERRORS["INTERNAL"]
    filled = complete_error_data(data, "en")
    assert (filled["message"], filled["error"], filled["retryable"]) == (en, en, retryable)
    assert filled["error_type"] == data.get("error_type", "INTERNAL")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_publisher_fields_are_kept_and_missing_ones_filled(lang):
    filled = complete_error_data({"error_type": "AI_PLATFORM_ERROR", "message": "custom"}, lang)
    assert filled["message"] == "custom"
    assert filled["retryable"] is True and filled["error"] == ERROR_TABLE["AI_PLATFORM_ERROR"].message(lang)
