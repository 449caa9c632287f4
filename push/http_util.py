"""JSON errors and token checks shared by the HTTP and WebSocket handlers."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from diagops.push.auth import AuthError, Claims, bearer
from diagops.push.keys import METRICS, SPEC, VERIFIER
from diagops.push.protocol import dumps
from diagops.push.strict_json import InvalidJson, parse


def json_error(status: int, code: str, message: str, **headers: str) -> web.Response:
    """The contract's error body; never a stack trace."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers or None)


def json_text(body: Any, status: int = 200) -> web.Response:
    """A JSON answer encoded by the wire's one encoder (web.json_response uses json.dumps)."""
    return web.Response(text=dumps(body), status=status, content_type="application/json")


def json_refusal(exc_class: type[web.HTTPException], code: str, message: str, **headers: str) -> web.HTTPException:
    """The same body as an exception, for helpers that refuse on their caller's behalf."""
    body = json.dumps({"error": {"code": code, "message": message}})
    return exc_class(text=body, content_type="application/json", headers=headers or None)


def request_token(request: web.Request) -> str | None:
    return bearer(request.headers.get("Authorization")) or request.query.get("token")


def authenticate(request: web.Request, need: str) -> Claims:
    """The caller's claims, or raise the 401/403 response (and count the failure)."""
    try:
        return request.app[VERIFIER].verify(request_token(request), need=need)
    except AuthError as exc:
        request.app[METRICS].auth_failures.labels(exc.reason).inc()
        if exc.reason == "scope":
            raise json_refusal(web.HTTPForbidden, "forbidden", exc.message) from None
        raise json_refusal(web.HTTPUnauthorized, "unauthorized", exc.message,
                           **{"WWW-Authenticate": 'Bearer realm="diagops"'}) from None


async def read_json(request: web.Request, *, max_bytes: int | None = None) -> Any:
    """The request's body as strict JSON, or a 400 response naming the problem. Bodies are
    bounded by `limits.max_frame_bytes` (413) unless the endpoint allows more (a batch):
    the app's client_max_size is the largest bound, and each endpoint applies its own."""
    limit = request.app[SPEC].limits.max_frame_bytes if max_bytes is None else max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    raw = await request.read()
    if len(raw) > limit:
        raise _too_large(limit)
    try:
        return parse(raw)
    except InvalidJson as exc:
        raise json_refusal(web.HTTPBadRequest, "bad_json", f"the body is not valid JSON: {exc}") from None


def _too_large(limit: int) -> web.HTTPException:
    body = json.dumps({"error": {"code": "too_large", "message": f"the body is larger than {limit} bytes"}})
    return web.HTTPRequestEntityTooLarge(limit, limit + 1, text=body, content_type="application/json")
