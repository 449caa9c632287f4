"""JSON errors and token checks shared by the HTTP and WebSocket handlers."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from diagops.push.auth import AuthError, Claims, bearer
from diagops.push.keys import METRICS, VERIFIER


def json_error(status: int, code: str, message: str, **headers: str) -> web.Response:
    """The contract's error body; never a stack trace."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers or None)


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


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, or a 400 response naming the problem."""
    try:
        return await request.json()
    except ValueError:
        raise json_refusal(web.HTTPBadRequest, "bad_json", "the body is not valid JSON") from None
