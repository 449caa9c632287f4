"""Admission control against a real service with a slow engine: refuse early (503 `overloaded`,
429 `too_many_diagnoses`, both with Retry-After), keep accepted work on time, never refuse a cache
hit, and serve the queue round-robin across users."""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveService, StartService
from tests.waiting import eventually

FINAL = {"complete", "error"}


async def _post(svc: LiveService, user: str, brand: str) -> tuple[int, dict[str, Any], str | None]:
    async with svc.session.post(f"{svc.url}/api/v1/diagnoses", json={"brand": brand}, headers=svc.auth(user)) as resp:
        return resp.status, await resp.json(), resp.headers.get("Retry-After")


async def _events(svc: LiveService, execution_id: str) -> list[Any]:
    return await svc.state.store.events_after(execution_id, 0)


async def _final(svc: LiveService, execution_id: str, timeout: float) -> list[Any]:
    async def done() -> list[Any] | None:
        updates = await _events(svc, execution_id)
        return updates if updates and updates[-1].event in FINAL else None

    return await eventually(done, timeout=timeout, what=f"{execution_id} reaches its final event")


async def _started_at(svc: LiveService, execution_id: str) -> float:
    """When the diagnosis got its slot: its second event (`ai_fetching`) was accepted."""
    updates = await _eventually_events(svc, execution_id, 2)
    return updates[1].accepted_at


async def _eventually_events(svc: LiveService, execution_id: str, n: int) -> list[Any]:
    async def enough() -> list[Any] | None:
        updates = await _events(svc, execution_id)
        return updates if len(updates) >= n else None

    return await eventually(enough, timeout=20, what=f"{execution_id} has {n} events")


async def test_past_the_queue_wait_bound_starts_are_refused_503_and_the_accepted_ones_stay_on_time(
        start_service: StartService) -> None:
    bound = 1.0
    svc = await start_service(**{"engine.speed": 20, "engine.max_concurrent_diagnoses": 2,
                                 "limits.max_queue_wait_s": bound, "limits.max_diagnoses_per_user": None})
    controller = svc.state.controller
    # Warm up: two diagnoses finish, so the controller has measured its service rate.
    warm = [await _post(svc, f"warm{i}", f"Warm {i}") for i in range(2)]
    for status, body, _ in warm:
        assert status == 202
        await _final(svc, body["execution_id"], timeout=20)
    assert controller.service_rate() is not None

    answers = [await _post(svc, f"user{i}", f"Burst {i}") for i in range(12)]
    accepted = [body["execution_id"] for status, body, _ in answers if status == 202]
    refused = [(body, retry) for status, body, retry in answers if status == 503]
    assert len(accepted) + len(refused) == len(answers), answers
    assert 2 <= len(accepted) < len(answers) and refused, answers
    for body, retry in refused:
        assert body["error"]["code"] == "overloaded", body
        assert retry is not None and retry.isdigit() and int(retry) >= 1, retry
    # A cache hit costs no slot: it is served while fresh work is refused.
    status, body, _ = await _post(svc, "warm0", "Warm 0")
    assert (status, body.get("cached")) == (202, True), body
    assert (await _post(svc, "late", "Still busy"))[0] == 503

    for execution_id in accepted:
        updates = await _final(svc, execution_id, timeout=30)
        assert updates[-1].event == "complete"
        waited = updates[1].accepted_at - updates[0].accepted_at
        assert waited <= 2 * bound, f"{execution_id} waited {waited:.2f} s for a slot (bound {bound} s)"
    text = await (await svc.session.get(f"{svc.url}/metrics")).text()
    assert f'diagops_diagnoses_refused_total{{reason="overloaded"}} {len(refused) + 1}.0' in text
    assert "diagops_diagnosis_queue_wait_expected_seconds" in text


async def test_one_user_is_bounded_429_and_the_queue_is_served_round_robin(start_service: StartService) -> None:
    svc = await start_service(**{"engine.speed": 25, "engine.max_concurrent_diagnoses": 1,
                                 "limits.max_queue_wait_s": None, "limits.max_diagnoses_per_user": 3})
    alice = [await _post(svc, "alice", f"Alice {i}") for i in range(3)]
    assert [status for status, _, _ in alice] == [202, 202, 202]
    status, body, retry = await _post(svc, "alice", "Alice 3")
    assert status == 429 and body["error"]["code"] == "too_many_diagnoses", body
    assert retry is not None and int(retry) >= 1
    status, bob, _ = await _post(svc, "bob", "Bob 0")
    assert status == 202, bob  # another user is not held up by alice's bound

    alice_ids = [b["execution_id"] for _, b, _ in alice]
    # Bob's diagnosis, queued behind two of alice's, gets the second free slot, not the third.
    bob_started = await _started_at(svc, bob["execution_id"])
    assert bob_started < await _started_at(svc, alice_ids[2])
    assert await _started_at(svc, alice_ids[1]) < bob_started
    for execution_id in alice_ids:
        await _final(svc, execution_id, timeout=20)
    # Finished diagnoses free the user's bound.
    await eventually(lambda: svc.state.controller.per_user.get("alice", 0) == 0, what="alice's count drops to 0")
    assert (await _post(svc, "alice", "Alice 4"))[0] == 202
    text = await (await svc.session.get(f"{svc.url}/metrics")).text()
    assert 'diagops_diagnoses_refused_total{reason="too_many_diagnoses"} 1.0' in text
