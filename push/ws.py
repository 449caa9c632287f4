"""`GET /ws`: admission (rate, capacity, token), the receive loop, and client frames."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import WSMsgType, web

from diagops.push import protocol as p
from diagops.push.auth import AuthError, Claims
from diagops.push.connection import Connection
from diagops.push.http_util import json_error, request_token
from diagops.push.keys import CONNECTIONS, HUB, METRICS, RATE, SPEC, STORE, VERIFIER
from diagops.push.metrics import Metrics
from diagops.push.store.base import StoreUnavailable
from diagops.push.strict_json import InvalidJson, parse
from diagops.push.ws_publish import handle_publish, settle_publishing

log = logging.getLogger("diagops.ws")


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    app = request.app
    metrics, limits, connections = app[METRICS], app[SPEC].limits, app[CONNECTIONS]
    refused = _admit(request)
    if refused is not None:
        return refused
    try:
        claims = _verify_any_scope(app, request_token(request))
    except AuthError as exc:
        metrics.auth_failures.labels(exc.reason).inc()
        metrics.ws_refused.labels("auth").inc()
        return json_error(401, "unauthorized", exc.message, **{"WWW-Authenticate": 'Bearer realm="diagops"'})

    # The contract's limit is enforced on whole messages in the receive loop, where the close 1009 is
    # a clean handshake. aiohttp's own limit, a hard ceiling at twice that, closes while the peer
    # is still sending, so its kernel answers the rest with a reset that can beat the 1009 to the
    # client (seen in 26 of 30 tries with a 65 KiB frame).
    ws = web.WebSocketResponse(autoping=False, max_msg_size=2 * limits.max_frame_bytes + 1, compress=False)
    await ws.prepare(request)
    conn = Connection(ws, claims, max_queue_bytes=limits.max_send_queue_bytes, metrics=metrics,
                      remote=request.remote or "?", transport=request.transport)
    conn.expire_with(claims)
    connections.add(conn)
    metrics.ws_connections_opened.inc()
    metrics.ws_connections.set(len(connections))
    try:
        await _receive_loop(app, conn)
        await settle_publishing(conn, ended=True)
    finally:
        app[HUB].drop(conn)
        connections.discard(conn)
        await conn.finish()
        metrics.ws_connections.set(len(connections))
        reason = conn.close_reason or "client"
        metrics.ws_disconnections.labels(reason).inc()
        log.info("ws closed user=%s remote=%s reason=%s code=%s", conn.user, conn.remote, reason, ws.close_code)
    return ws


def _verify_any_scope(app: web.Application, token: str | None) -> Claims:
    """A socket is for watching (`subscribe`), publishing (`publish`) or both; each frame then
    checks the scope its action needs."""
    try:
        return app[VERIFIER].verify(token, need=p.SCOPE_SUBSCRIBE)
    except AuthError as exc:
        if exc.reason != "scope":
            raise
    try:
        return app[VERIFIER].verify(token, need=p.SCOPE_PUBLISH)
    except AuthError:
        raise AuthError("scope", "the token lacks the 'subscribe' and the 'publish' scope") from None


async def _lacks_scope(app: web.Application, conn: Connection, scope: str) -> bool:
    """A valid token without the scope a frame needs is refused like a bad one (the contract:
    4001 on the socket), and counted as an auth failure."""
    if scope in conn.claims.scopes:
        return False
    app[METRICS].auth_failures.labels("scope").inc()
    await conn.close(p.CLOSE_AUTH, f"the token lacks the '{scope}' scope", reason="auth")
    return True


def _admit(request: web.Request) -> web.Response | None:
    """Refuse before the upgrade: shutting down, over the rate, or full."""
    app = request.app
    connections, metrics = app[CONNECTIONS], app[METRICS]
    if connections.draining:
        return json_error(503, "shutting_down", "the service is restarting; reconnect shortly", **{"Retry-After": "1"})
    if not app[RATE].allow(request.remote or "?", time.monotonic()):
        metrics.ws_refused.labels("rate").inc()
        return json_error(429, "rate_limited", "too many new connections from this address", **{"Retry-After": "1"})
    if len(connections) >= app[SPEC].limits.max_connections:
        metrics.ws_refused.labels("capacity").inc()
        return json_error(503, "server_full", "the service is at its connection limit", **{"Retry-After": "1"})
    return None


def _too_big(data: str | bytes, max_bytes: int) -> bool:
    """Over the limit in UTF-8 bytes; encoded only when the length in characters cannot tell."""
    if len(data) > max_bytes or isinstance(data, bytes):
        return len(data) > max_bytes
    return len(data) * 4 > max_bytes and len(data.encode("utf-8", "surrogatepass")) > max_bytes


async def _receive_loop(app: web.Application, conn: Connection) -> None:
    ws, max_bytes = conn.ws, app[SPEC].limits.max_frame_bytes
    while True:
        msg = await ws.receive()
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY) and _too_big(msg.data, max_bytes):
            await conn.close(p.CLOSE_TOO_BIG, f"frames are limited to {max_bytes} bytes", reason="too_big")
            break
        if msg.type == WSMsgType.TEXT:
            conn.last_seen = time.monotonic()
            try:
                await handle_frame(app, conn, msg.data)
            except Exception:  # a bug must end this socket with a close code, not a raw HTTP 500 in its stream
                log.exception("ws frame from user=%s remote=%s failed", conn.user, conn.remote)
                await conn.close(p.CLOSE_INTERNAL, "internal error", reason="internal")
                break
        elif msg.type == WSMsgType.BINARY:
            _reply_error(app[METRICS], conn, p.BAD_JSON, "frames must be JSON text, not binary")
        elif msg.type == WSMsgType.PING:
            conn.send_pong(msg.data)
        elif msg.type == WSMsgType.PONG:
            conn.saw_pong()
        elif msg.type == WSMsgType.ERROR:
            # The error carries the code aiohttp closed with; ws.close_code is by now the
            # peer's answer to that close (often 1000), so it cannot tell a 1009 apart.
            code = getattr(msg.data, "code", None)
            if code == p.CLOSE_TOO_BIG:
                conn.close_reason = conn.close_reason or "too_big"
            elif code == p.CLOSE_PROTOCOL_ERROR:  # an unmasked frame (push/ws_masking.py) among others
                conn.close_reason = conn.close_reason or "protocol"
            break
        else:  # CLOSE, CLOSING, CLOSED
            break


async def handle_frame(app: web.Application, conn: Connection, text: str) -> None:
    metrics = app[METRICS]
    try:
        frame = parse(text)
    except InvalidJson as exc:
        await settle_publishing(conn)  # answers keep the order of the frames
        _reply_error(metrics, conn, p.BAD_JSON, f"the frame is not valid JSON: {exc}")
        return
    if not isinstance(frame, dict) or frame.get("type") != "publish":
        await settle_publishing(conn)  # answers keep the order of the frames
    if not isinstance(frame, dict):
        _reply_error(metrics, conn, p.BAD_JSON, "the frame must be a JSON object")
        return
    kind = frame.get("type")
    execution_id = frame.get("execution_id") if isinstance(frame.get("execution_id"), str) else None
    if kind is None:
        _reply_error(metrics, conn, p.MISSING_FIELD, "'type' is required", execution_id)
    elif kind == "ping":
        conn.send_frame({"type": "pong", "timestamp": p.utc_timestamp()})
    elif kind == "publish":
        if not await _lacks_scope(app, conn, p.SCOPE_PUBLISH):
            await handle_publish(app, conn, frame)
    elif kind == "subscribe":
        if not await _lacks_scope(app, conn, p.SCOPE_SUBSCRIBE):
            await _subscribe(app, conn, frame)
    elif kind == "refresh":
        _refresh(app, conn, frame)
    elif kind == "unsubscribe":
        unsubscribed = _require_execution_id(metrics, conn, frame)
        if unsubscribed is not None:
            app[HUB].unsubscribe(conn, unsubscribed)
            conn.send_frame({"type": "unsubscribed", "execution_id": unsubscribed})
    else:
        _reply_error(metrics, conn, p.UNKNOWN_TYPE, f"unknown message type {str(kind)[:40]!r}", execution_id)


async def _subscribe(app: web.Application, conn: Connection, frame: dict[str, Any]) -> None:
    metrics, hub = app[METRICS], app[HUB]
    execution_id = _require_execution_id(metrics, conn, frame)
    if execution_id is None:
        return
    last_seq = frame.get("last_seq", 0)
    if isinstance(last_seq, bool) or not isinstance(last_seq, int) or not 0 <= last_seq <= p.MAX_AFTER:
        _reply_error(metrics, conn, p.INVALID_FIELD, "'last_seq' must be an integer >= 0", execution_id)
        return
    epoch = frame.get("epoch")
    if epoch is not None and not (isinstance(epoch, str) and 0 < len(epoch) <= p.MAX_EPOCH_CHARS):
        _reply_error(metrics, conn, p.INVALID_FIELD, f"'epoch' must be a string of 1 to {p.MAX_EPOCH_CHARS} characters",
                     execution_id)
        return
    subscribed, limit = hub.subscriptions(conn), app[SPEC].limits.max_subscriptions
    if execution_id not in subscribed and len(subscribed) >= limit:
        _reply_error(metrics, conn, p.TOO_MANY_SUBSCRIPTIONS, f"at most {limit} subscriptions per connection", execution_id)
        return
    try:
        snapshot = await app[STORE].snapshot(execution_id)
        if snapshot is None:
            _reply_error(metrics, conn, p.NOT_FOUND, f"no execution {execution_id}", execution_id)
        elif snapshot.owner != conn.user:
            _reply_error(metrics, conn, p.FORBIDDEN, "this execution belongs to another user", execution_id)
        else:
            await hub.subscribe(conn, execution_id, last_seq, epoch)
    except StoreUnavailable:
        _reply_error(metrics, conn, "unavailable", "the service's store is not answering; subscribe again shortly", execution_id)


def _refresh(app: web.Application, conn: Connection, frame: dict[str, Any]) -> None:
    """A new token for the same user keeps the socket open past the old token's `exp`."""
    metrics = app[METRICS]
    if "token" not in frame:
        _reply_error(metrics, conn, p.MISSING_FIELD, "'token' is required")
        return
    token = frame["token"]
    if not isinstance(token, str) or not token:
        _reply_error(metrics, conn, p.INVALID_FIELD, "'token' must be a non-empty string")
        return
    try:
        claims = app[VERIFIER].verify(token, need=p.SCOPE_SUBSCRIBE)
    except AuthError as exc:
        metrics.auth_failures.labels(exc.reason).inc()
        _reply_error(metrics, conn, p.INVALID_FIELD, f"'token' was refused: {exc.message}")
        return
    if claims.sub != conn.user:
        _reply_error(metrics, conn, p.FORBIDDEN, "the new token is for another user")
        return
    conn.expire_with(claims)
    conn.send_frame({"type": "refreshed", "exp": int(claims.exp) if claims.exp.is_integer() else claims.exp})


def _require_execution_id(metrics: Metrics, conn: Connection, frame: dict[str, Any]) -> str | None:
    if "execution_id" not in frame:
        _reply_error(metrics, conn, p.MISSING_FIELD, "'execution_id' is required")
        return None
    value = frame["execution_id"]
    if not p.valid_execution_id(value):
        _reply_error(metrics, conn, p.INVALID_FIELD, f"'execution_id' must be {p.EXECUTION_ID_RULE}")
        return None
    return value


def _reply_error(metrics: Metrics, conn: Connection, code: str, message: str, execution_id: str | None = None) -> None:
    metrics.frame_errors.labels(code).inc()
    conn.send_frame(p.error_frame(code, message, execution_id))
