"""HTTP endpoints of the contract: start a diagnosis, poll, read events, publish, health.

A store that does not answer raises StoreUnavailable out of any handler; the app's
middleware turns it into the one 503 `store_unavailable` answer, with Retry-After.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from importlib import resources

from aiohttp import web

from diagops.push.controller import Overloaded, Refused, TooManyDiagnoses
from diagops.push.diagnosis import InvalidRequest, parse_request
from diagops.push.engine import queued_event
from diagops.push.http_util import authenticate, json_error, json_refusal, json_text, read_json
from diagops.push.keys import CONNECTIONS, ENGINE, METRICS, PUBLISHER, READY_CHECK, SPEC, STORE
from diagops.push.lifecycle import PublishRefused, Snapshot
from diagops.push.publishing import MAX_IDEMPOTENCY_KEY, parse_item
from diagops.push.auth import Claims
from diagops.push.protocol import EXECUTION_ID_RULE, MAX_AFTER, SCOPE_PUBLISH, SCOPE_SUBSCRIBE, valid_execution_id
from diagops.push.store.base import Budgeted, StoreUnavailable

routes = web.RouteTableDef()
READY_TIMEOUT_S = 1.0
SINGLE_FIELDS = frozenset({"event", "data", "owner", "lang"})  # the id is in the path, the key in a header
TRIMMED_HEADER = "Diagops-Trimmed"  # the highest seq no longer stored, when above `after`


@routes.post("/api/v1/diagnoses")
async def start_diagnosis(request: web.Request) -> web.Response:
    spec = request.app[SPEC]
    publisher = request.app[PUBLISHER]
    claims = authenticate(request, SCOPE_SUBSCRIBE)
    body = await read_json(request)
    try:
        diagnosis = parse_request(body, default_lang=claims.lang or spec.auth.default_lang,
                                  default_platforms=spec.engine.platforms)
    except InvalidRequest as exc:
        return json_error(400, "invalid_request", str(exc))
    execution_id = f"e-{uuid.uuid4().hex}"
    cached = await publisher.cached_result(diagnosis.cache_key())
    if cached:  # never refused: a cache hit costs no slot
        await publisher.replay(execution_id, cached, owner=claims.sub, lang=diagnosis.lang)
    else:
        engine = request.app[ENGINE]
        try:
            admission = engine.controller.admit(claims.sub)
        except Overloaded as refused:
            return _refused(request, refused, json_error(503, "overloaded", refused.message))
        except TooManyDiagnoses as refused:
            return _refused(request, refused, json_error(429, "too_many_diagnoses", refused.message))
        first = queued_event(diagnosis.lang)
        try:
            await publisher.publish(execution_id, *first, owner=claims.sub, lang=diagnosis.lang)
        except BaseException:
            engine.controller.abandon(admission)
            raise
        engine.start(execution_id, diagnosis, first, admission)
    scheme = "wss" if request.scheme == "https" else "ws"
    return web.json_response(
        {
            "execution_id": execution_id,
            "cached": bool(cached),
            "ws_url": f"{scheme}://{request.host}/ws",
            "poll_url": f"/api/v1/executions/{execution_id}",
        },
        status=202,
    )


def _refused(request: web.Request, refused: Refused, response: web.Response) -> web.Response:
    """Count a refused start and tell the client when to come back."""
    request.app[METRICS].diagnoses_refused.labels(refused.reason).inc()
    response.headers["Retry-After"] = str(refused.retry_after_s)
    return response


def _execution_id(request: web.Request) -> str:
    """The path's execution id, or the 400 for one outside the rule every entrance shares."""
    execution_id = request.match_info["execution_id"]
    if not valid_execution_id(execution_id):
        raise json_refusal(web.HTTPBadRequest, "invalid_field", f"the execution id must be {EXECUTION_ID_RULE}")
    return execution_id


def _after(request: web.Request) -> int:
    """`after` as a 64-bit count: ASCII digits only (str.isdigit also takes '²', which int()
    refuses), at most MAX_AFTER, so both stores answer alike rather than Redis failing."""
    text = request.query.get("after", "0")
    if not (text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_AFTER):
        raise json_refusal(web.HTTPBadRequest, "invalid_field", f"'after' must be a whole number from 0 to {MAX_AFTER}")
    return int(text)


async def _owned_snapshot(request: web.Request, claims: Claims, execution_id: str) -> Snapshot:
    snapshot = await request.app[STORE].snapshot(execution_id)
    if snapshot is None:
        raise json_refusal(web.HTTPNotFound, "not_found", f"no execution {execution_id}")
    if snapshot.owner != claims.sub:
        raise json_refusal(web.HTTPForbidden, "forbidden", "this execution belongs to another user")
    return snapshot


@routes.get("/api/v1/executions/{execution_id}")
async def get_execution(request: web.Request) -> web.Response:
    claims = authenticate(request, SCOPE_SUBSCRIBE)
    snapshot = await _owned_snapshot(request, claims, _execution_id(request))
    return web.json_response(snapshot.public())


@routes.get("/api/v1/executions/{execution_id}/events")
async def get_events(request: web.Request) -> web.Response:
    claims = authenticate(request, SCOPE_SUBSCRIBE)
    execution_id, after = _execution_id(request), _after(request)
    snapshot = await _owned_snapshot(request, claims, execution_id)
    store = request.app[STORE]
    updates = await store.events_after(snapshot.execution_id, after)
    body = "[" + ",".join(u.encoded for u in updates) + "]"
    response = web.Response(text=body, content_type="application/json")
    trimmed = store.trimmed(snapshot.execution_id) if isinstance(store, Budgeted) else 0
    if trimmed > after:  # evicted to keep within the budget: the list starts later, and says so
        response.headers[TRIMMED_HEADER] = str(trimmed)
    return response


@routes.post("/api/v1/executions/{execution_id}/events")
async def publish_event(request: web.Request) -> web.Response:
    authenticate(request, SCOPE_PUBLISH)
    execution_id = _execution_id(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        return json_error(400, "bad_request", "the body must be a JSON object")
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        return json_error(400, "bad_request", f"'Idempotency-Key' must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    try:
        item = parse_item(body, allowed=SINGLE_FIELDS, execution_id=execution_id, idempotency_key=key)
    except PublishRefused as exc:
        return json_error(exc.status, exc.code, exc.message)
    result = await request.app[PUBLISHER].publish_item(item, path="http")
    if "error" in result:
        if result["status"] == 503:
            raise StoreUnavailable(result["error"]["message"])  # the middleware's one 503, with Retry-After
        return json_error(result["status"], **result["error"])
    return json_text(result, status=202)


@routes.post("/api/v1/events")
async def publish_events(request: web.Request) -> web.Response:
    """Many events for many executions in one request: the publish API's cost per request paid
    once per batch. The envelope is checked whole before anything is stored."""
    authenticate(request, SCOPE_PUBLISH)
    limits = request.app[SPEC].limits
    body = await read_json(request, max_bytes=limits.max_batch_bytes)
    if not isinstance(body, dict):
        return json_error(400, "bad_request", "the body must be a JSON object")
    unknown = set(body) - {"events"}
    if unknown:
        return json_error(400, "bad_request", f"unknown field '{sorted(unknown)[0]}'")
    events = body.get("events")
    if not isinstance(events, list):
        return json_error(400, "bad_request", "'events' must be a list of event objects")
    if len(events) > limits.max_batch_events:
        return json_error(400, "bad_request", f"at most {limits.max_batch_events} events in one request")
    for index, item in enumerate(events):
        if not isinstance(item, dict):
            return json_error(400, "bad_request", f"events[{index}] must be an object")
    results = await request.app[PUBLISHER].publish_batch(events)
    return json_text({"results": results})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    if request.app[CONNECTIONS].draining:
        return json_error(503, "shutting_down", "the service is shutting down")
    ready_check = request.app[READY_CHECK]
    if ready_check is None:
        return web.json_response({"status": "ready"})  # the store lives in this process
    try:
        await asyncio.wait_for(ready_check(), READY_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise StoreUnavailable(f"the store did not answer within {READY_TIMEOUT_S:g} s") from None
    return web.json_response({"status": "ready"})


@functools.cache
def openapi_document() -> bytes:
    """push/openapi.json, the committed description of this API (tests check both against each other)."""
    return (resources.files("diagops.push") / "openapi.json").read_bytes()


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=openapi_document(), content_type="application/json")


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[METRICS].exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response
