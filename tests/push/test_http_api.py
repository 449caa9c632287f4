"""The HTTP half of the contract: start, poll, read events, publish, health, metrics."""

from __future__ import annotations

import pytest

from tests.push.wsutil import eventually, updates, watch_to_end
from tests.servicekit import token


def bearer(user: str = "alice", scopes: tuple[str, ...] = ("subscribe",)) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user, scopes)}"}


async def error_of(resp) -> tuple[int, str, str]:
    """(status, code, message) of an error answer, checked to be exactly the JSON error body."""
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return resp.status, body["error"]["code"], body["error"]["message"]


async def test_starting_a_diagnosis_answers_202_with_the_urls(service):
    body = await service.start_diagnosis(brand="Acme", platforms=["qwen", "kimi"], questions=["best tea?"])
    assert set(body) == {"execution_id", "cached", "ws_url", "poll_url"}
    assert body["cached"] is False
    assert body["ws_url"] == f"{service.ws_url}"
    assert body["poll_url"] == f"/api/v1/executions/{body['execution_id']}"


@pytest.mark.parametrize(
    "body",
    [{}, {"brand": ""}, {"brand": 3}, {"brand": "a", "platforms": "qwen"}, {"brand": "a", "platforms": []},
     {"brand": "a", "lang": "fr"}, {"brand": "a", "questions": [1]}, {"brand": "a", "colour": "red"}, [1]],
)
async def test_a_bad_diagnosis_request_is_400_and_starts_nothing(service, body):
    async with service.session.post(f"{service.url}/api/v1/diagnoses", json=body, headers=bearer()) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
        assert error["code"] == "invalid_request" or error["code"] == "bad_json"
        assert error["message"]
    assert service.state.controller.active == 0 and not service.state.engine.tasks


async def test_a_body_that_is_not_json_is_400(service):
    async with service.session.post(f"{service.url}/api/v1/diagnoses", data=b"{nope", headers=bearer()) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_json"


async def test_polling_follows_the_diagnosis_to_its_report(service):
    eid = (await service.start_diagnosis())["execution_id"]
    url = f"{service.url}/api/v1/executions/{eid}"

    async def final():
        async with service.session.get(url, headers=bearer()) as resp:
            body = await resp.json()
            return body if body["status"] == "complete" else None

    body = await eventually(final, what="the polled status to be complete")
    assert set(body) == {"execution_id", "status", "stage", "progress", "status_text", "seq", "epoch", "updated_at",
                         "report"}
    assert body["progress"] == 100 and isinstance(body["report"], dict)


async def test_polling_someone_elses_or_an_unknown_execution(service):
    eid = (await service.start_diagnosis(user="alice"))["execution_id"]
    async with service.session.get(f"{service.url}/api/v1/executions/{eid}", headers=bearer("bob")) as resp:
        assert await error_of(resp) == (403, "forbidden", "this execution belongs to another user")
    async with service.session.get(f"{service.url}/api/v1/executions/e-nope", headers=bearer()) as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    async with service.session.get(f"{service.url}/api/v1/executions/e%22x%5C", headers=bearer()) as resp:
        status, code, _ = await error_of(resp)  # an id outside the id rule, JSON syntax in it, well-formed body
        assert (status, code) == (400, "invalid_field")


@pytest.mark.parametrize(
    ("headers", "reason", "message"),
    [
        ({}, "missing", "a token is required (Authorization: Bearer or ?token=)"),
        ({"Authorization": "Bearer not-a-token"}, "invalid", "the token is not valid"),
        ({"Authorization": "Bearer " + token("alice", ttl_s=-10)}, "expired", "the token has expired"),
    ],
)
async def test_a_request_without_a_valid_token_is_401_with_the_reason(service, headers, reason, message):
    eid = (await service.start_diagnosis(user="alice"))["execution_id"]
    async with service.session.get(f"{service.url}/api/v1/executions/{eid}", headers=headers) as resp:
        assert await error_of(resp) == (401, "unauthorized", message)
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="diagops"'
    assert service.state.metrics.auth_failures.labels(reason)._value.get() == 1


async def test_events_after_n_match_what_the_socket_pushed(service):
    eid = (await service.start_diagnosis())["execution_id"]
    pushed = updates(await watch_to_end(await service.connect(), eid))
    async with service.session.get(f"{service.url}/api/v1/executions/{eid}/events?after=2", headers=bearer()) as resp:
        assert resp.status == 200
        assert await resp.json() == pushed[2:]
    async with service.session.get(f"{service.url}/api/v1/executions/{eid}/events?after=x", headers=bearer()) as resp:
        assert await error_of(resp) == (400, "invalid_field", "'after' must be a whole number from 0 to 9223372036854775807")


async def _publish(service, eid, body, scopes=("publish",)):
    async with service.session.post(f"{service.url}/api/v1/executions/{eid}/events", json=body,
                                    headers=bearer("engine", scopes)) as resp:
        return resp.status, await resp.json()


async def test_an_external_engine_publishes_a_whole_diagnosis(service):
    ws = await service.connect(user="carol")
    status, body = await _publish(service, "ext-1", {"event": "progress", "owner": "carol", "lang": "en",
                                                     "data": {"progress": 10, "stage": "ai_fetching"}})
    assert (status, body) == (202, {"seq": 1})
    assert (await _publish(service, "ext-1", {"event": "progress", "data": {"progress": 60, "stage": "analyzing"}}))[1] == {"seq": 2}
    assert (await _publish(service, "ext-1", {"event": "error", "data": {"error_type": "RATE_LIMITED"}}))[1] == {"seq": 3}
    frames = updates(await watch_to_end(ws, "ext-1"))
    error = frames[-1]["data"]
    # The service fills the friendly fields from its table, in the owner's language.
    assert error["retryable"] is True and error["message"].startswith("Too many requests")
    assert error["error_type"] == "RATE_LIMITED" and error["error_details"] == {}


@pytest.mark.parametrize(
    ("first", "then", "status", "code"),
    [
        (None, {"event": "progress", "data": {"progress": 1}}, 422, "owner_required"),
        ({"event": "complete", "owner": "u", "data": {"report": {}}}, {"event": "progress", "data": {"progress": 1}}, 409, "already_final"),
        ({"event": "progress", "owner": "u", "data": {"progress": 50}}, {"event": "progress", "data": {"progress": 40}}, 422, "regression"),
        ({"event": "progress", "owner": "u", "data": {"progress": 0, "stage": "analyzing"}}, {"event": "progress", "data": {"progress": 0, "stage": "queued"}}, 422, "regression"),
        (None, {"event": "launch", "owner": "u", "data": {}}, 400, "bad_request"),
        (None, {"event": "progress", "owner": "u", "data": {"progress": 101}}, 400, "bad_request"),
        (None, {"event": "complete", "owner": "u", "data": {}}, 400, "bad_request"),
        (None, {"event": "error", "owner": "u", "data": {"error_type": "OOPS"}}, 400, "bad_request"),
        (None, {"event": "progress", "owner": "u", "data": {}, "extra": 1}, 400, "bad_request"),
    ],
)
async def test_refused_events_use_no_seq(service, first, then, status, code):
    if first is not None:
        assert (await _publish(service, "ext-r", first))[0] == 202
    before = await service.state.store.snapshot("ext-r")
    got_status, body = await _publish(service, "ext-r", then)
    assert (got_status, body["error"]["code"]) == (status, code)
    after = await service.state.store.snapshot("ext-r")
    assert (after.seq if after else 0) == (before.seq if before else 0)


async def test_publishing_needs_the_publish_scope(service):
    async with service.session.post(f"{service.url}/api/v1/executions/ext-s/events", headers=bearer("engine"),
                                    json={"event": "progress", "owner": "u", "data": {}}) as resp:
        assert await error_of(resp) == (403, "forbidden", "the token lacks the 'publish' scope")
    assert service.state.metrics.auth_failures.labels("scope")._value.get() == 1
    assert await service.state.store.snapshot("ext-s") is None


async def test_identical_requests_are_served_from_the_cache_by_any_user(service):
    first = await service.start_diagnosis(user="alice", brand="Acme Tea", platforms=["qwen", "kimi"], questions=["Q1", "q2"])
    original = updates(await watch_to_end(await service.connect(), first["execution_id"]))
    # Same request after normalising case, spaces and order, from another user.
    again = await service.start_diagnosis(user="bob", brand="  acme   TEA", platforms=["KIMI", "qwen"], questions=["q2", "q1"])
    assert again["cached"] is True
    snapshot = await service.state.store.snapshot(again["execution_id"])
    assert snapshot.status == "complete" and snapshot.owner == "bob"  # all stored before the 202
    copied = updates(await watch_to_end(await service.connect(user="bob"), again["execution_id"]))
    assert [(e["seq"], e["event"], e["data"]) for e in copied] == [(e["seq"], e["event"], e["data"]) for e in original]
    metrics = service.state.metrics
    assert (metrics.cache_requests.labels("hit")._value.get(), metrics.cache_requests.labels("miss")._value.get()) == (1, 1)
    # Only the engine's run counts as a diagnosis outcome; the replay is a cache hit.
    assert metrics.diagnoses.labels("complete")._value.get() == 1


async def test_health_readiness_and_metrics(service):
    async with service.session.get(f"{service.url}/healthz") as resp:
        assert resp.status == 200
    async with service.session.get(f"{service.url}/readyz") as resp:
        assert resp.status == 200
    eid = (await service.start_diagnosis())["execution_id"]
    await watch_to_end(await service.connect(), eid)
    async with service.session.get(f"{service.url}/metrics") as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()
    for name in [
        "diagops_ws_connections ", "diagops_ws_connections_opened_total ", "diagops_ws_disconnections_total",
        'diagops_push_latency_seconds_bucket{le="1.0"}', 'diagops_push_latency_seconds_bucket{le="0.1"}',
        'diagops_push_latency_seconds_bucket{le="0.25"}', 'diagops_push_latency_seconds_bucket{le="0.5"}',
        'diagops_messages_sent_total{event="complete"} 1.0', 'diagops_diagnoses_total{status="complete"} 1.0',
        "diagops_diagnosis_duration_seconds_count 1.0", "diagops_cache_requests_total", "diagops_auth_failures_total",
        "diagops_heartbeat_timeouts_total", "diagops_slow_consumer_disconnects_total", "diagops_errors_total",
        'diagops_store_operation_seconds_count{op="publish"}', "diagops_executions_active 0.0",
    ]:
        assert name in text, name
    assert "execution_id" not in text and "alice" not in text


# Every metric documented for the service (the wire contract's list and the additions README.md
# names), by the name alert rules and dashboards query, with its Prometheus type.
DOCUMENTED_METRICS = {
    "diagops_ws_connections": "gauge",
    "diagops_ws_connections_opened_total": "counter",
    "diagops_ws_disconnections_total": "counter",
    "diagops_ws_refused_total": "counter",
    "diagops_push_latency_seconds": "histogram",
    "diagops_messages_sent_total": "counter",
    "diagops_diagnoses_total": "counter",
    "diagops_diagnosis_duration_seconds": "histogram",
    "diagops_errors_total": "counter",
    "diagops_cache_requests_total": "counter",
    "diagops_auth_failures_total": "counter",
    "diagops_heartbeat_timeouts_total": "counter",
    "diagops_slow_consumer_disconnects_total": "counter",
    "diagops_store_operation_seconds": "histogram",
    "diagops_store_errors_total": "counter",
    "diagops_executions_active": "gauge",
    "diagops_diagnoses_queued": "gauge",
    "diagops_diagnoses_refused_total": "counter",
    "diagops_diagnosis_queue_wait_expected_seconds": "gauge",
    "diagops_frame_errors_total": "counter",
    "diagops_events_published_total": "counter",
    "diagops_store_bytes": "gauge",
    "diagops_store_max_bytes": "gauge",
    "diagops_store_executions": "gauge",
    "diagops_store_evictions_total": "counter",
    "diagops_store_refusals_total": "counter",
    "diagops_unfinished_connections_closed_total": "counter",
    "diagops_gc_pause_seconds": "histogram",
}


async def test_metrics_are_exactly_the_documented_ones_with_their_types(service):
    # A fresh service: every family is declared from the start, before anything counts in it.
    assert await service.metric_types() == DOCUMENTED_METRICS


async def test_unknown_paths_answer_json_errors(service):
    async with service.session.get(f"{service.url}/nope") as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"


async def test_a_retried_publish_with_the_same_idempotency_key_is_stored_once(service):
    url = f"{service.url}/api/v1/executions/ext-i/events"
    headers = {**bearer("engine", ("publish",)), "Idempotency-Key": "evt-1"}
    first = {"event": "progress", "owner": "u", "data": {"progress": 10}}
    async with service.session.post(url, json=first, headers=headers) as resp:
        assert (resp.status, await resp.json()) == (202, {"seq": 1})
    async with service.session.post(url, json=first, headers=headers) as resp:  # the retry
        assert (resp.status, await resp.json()) == (202, {"seq": 1, "duplicate": True})
    headers["Idempotency-Key"] = "evt-2"
    async with service.session.post(url, json={"event": "progress", "data": {"progress": 20}}, headers=headers) as resp:
        assert (resp.status, await resp.json()) == (202, {"seq": 2})
    assert [u.seq for u in await service.state.store.events_after("ext-i", 0)] == [1, 2]
    headers["Idempotency-Key"] = "x" * 201
    async with service.session.post(url, json={"event": "progress", "data": {}}, headers=headers) as resp:
        assert await error_of(resp) == (400, "bad_request", "'Idempotency-Key' must be 1 to 200 characters")
