"""A fault-injecting HTTP + WebSocket reverse proxy, for proving that each release-gate check fails.

`diagops verify` judges a push service from outside, over its public API. To show that a check
fails on the fault it exists for, the tests put this proxy in front of a healthy service and
switch one fault on: the service stays unchanged, only what crosses the wire differs. With no
fault the proxy is transparent (statuses, bodies, frames, close codes, pings pass through), so a
check that goes red here goes red because of its fault.

It speaks HTTP and WebSocket (aiohttp on both sides), unlike `tests/faultproxy.py` which cuts
and delays raw TCP bytes. It runs its own event loop in a thread, so a sync test uses it with
`with GateProxy(...)`, and a test whose service shares its own loop uses `async with` (that
keeps the test's loop free to serve the proxied calls while the proxy starts and stops).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from functools import partial
from typing import Any

import aiohttp
import jwt
from aiohttp import WSMsgType, web
from multidict import CIMultiDict
from yarl import URL

from diagops.push.auth import bearer
from diagops.push.protocol import dumps


class Fault(StrEnum):
    """The faults, by the names `faults={...}` and `proxy.stats` use."""

    AUTH_DISABLED = "auth_disabled"
    AUTHZ_DISABLED = "authz_disabled"
    PUSH_DELAY_S = "push_delay_s"
    DROP_SEQ = "drop_seq"
    DUPLICATE_SEQ = "duplicate_seq"
    REPLAY_BROKEN = "replay_broken"
    STRIP_FRIENDLY = "strip_friendly"
    CACHE_BUSTED = "cache_busted"
    POLLING_FROZEN = "polling_frozen"
    RENAME_METRIC = "rename_metric"
    HTTP_500_ON = "http_500_on"
    WS_REFUSED = "ws_refused"
    WS_SILENT = "ws_silent"


@dataclass(frozen=True)
class Faults:
    """What is switched on; each field is named after its `Fault` and is off by default."""

    auth_disabled: bool = False
    authz_disabled: tuple[str, str] | None = None  # (B, A): B's tokens become A's
    push_delay_s: float = 0.0
    drop_seq: int | None = None
    duplicate_seq: int | None = None
    replay_broken: bool = False
    strip_friendly: bool = False
    cache_busted: bool = False
    polling_frozen: bool = False
    rename_metric: tuple[str, str] | None = None  # (old family, new family)
    http_500_on: str | None = None  # a path prefix
    ws_refused: bool = False  # every WebSocket upgrade answered 502, as by a proxy that cannot upgrade
    ws_silent: bool = False  # upgrades accepted, then nothing relayed either way (a stuck middlebox)

    @classmethod
    def parse(cls, faults: Mapping[str, Any] | Iterable[str] | None) -> Faults:
        """From `{"drop_seq": 3, ...}` or, for on/off faults, just their names; unknown names refuse."""
        if faults is None:
            return cls()
        chosen = dict(faults) if isinstance(faults, Mapping) else {name: True for name in faults}
        values: dict[str, Any] = {}
        for name, value in chosen.items():
            try:
                fault = Fault(name)
            except ValueError:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(Fault)}") from None
            values[fault.value] = tuple(value) if fault in (Fault.AUTHZ_DISABLED, Fault.RENAME_METRIC) else value
        return cls(**values)

    @property
    def on_downward_frames(self) -> bool:
        return bool(self.push_delay_s or self.drop_seq is not None or self.duplicate_seq is not None
                    or self.strip_friendly)


assert {f.name for f in fields(Faults)} == {f.value for f in Fault}

# Not relayed: they describe one hop's connection or body encoding, which each side sets itself.
HOP_HEADERS = frozenset(h.lower() for h in (
    "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
    "Content-Length", "Content-Encoding",
))
WS_HANDSHAKE_HEADERS = frozenset(h.lower() for h in (
    "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol",
))
RESPONSE_SKIP = HOP_HEADERS | {"date", "server"}
POLL_PATH = re.compile(r"^/api/v1/executions/([^/]+)$")
EVENTS_PATH = re.compile(r"^/api/v1/executions/[^/]+/events$")
FRIENDLY_FIELDS = ("message", "retryable")
METRIC_SUFFIXES = ("", "_total", "_created", "_bucket", "_sum", "_count")
CLOSE_GOING_AWAY = 1001
CLOSE_TIMEOUT_S = 2.0  # for a peer to answer a close; then the relay gives up on it


# --- Rewrites: pure functions of what crosses the wire -------------------------------------------

def token_sub(token: str) -> str | None:
    """The `sub` of a JWT read without checking it: the proxy knows no secret, and need not."""
    try:
        sub = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except jwt.PyJWTError:
        return None
    return sub if isinstance(sub, str) else None


def strip_friendly(data: Any) -> bool:
    """Remove the friendly fields from an error's data; True when something was there to remove."""
    if not isinstance(data, dict):
        return False
    return [data.pop(name) for name in FRIENDLY_FIELDS if name in data] != []


def strip_friendly_body(path: str, body: Any) -> int:
    """Strip the polling answers' error objects; returns how many were stripped."""
    if POLL_PATH.match(path) and isinstance(body, dict):
        return int(strip_friendly(body.get("error")))
    if EVENTS_PATH.match(path) and isinstance(body, list):
        return sum(strip_friendly(item.get("data")) for item in body
                   if isinstance(item, dict) and item.get("event") == "error")
    return 0


def bust_cache(body: Any) -> bool:
    """Add a question no earlier request asked, so the request's cache key is new."""
    if not isinstance(body, dict) or not isinstance(body.get("questions", []), list):
        return False
    body["questions"] = [*body.get("questions", []), f"gateproxy cache buster {uuid.uuid4().hex}"]
    return True


def rename_metric_family(text: str, old: str, new: str) -> tuple[str, int]:
    """`text` (Prometheus text format) with family `old` called `new`: its samples (`_bucket`,
    `_total`, ...) and its HELP/TYPE lines. Returns the text and how many lines changed."""
    old_base, new_base = old.removesuffix("_total"), new.removesuffix("_total")
    names = {old_base + suffix: new_base + suffix for suffix in METRIC_SUFFIXES}
    line = re.compile(r"^(# (?:HELP|TYPE) )?([a-zA-Z_:][a-zA-Z0-9_:]*)(?=[\s{]|$)", re.M)
    count = 0

    def rename(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(2) not in names:
            return match.group(0)
        count += 1
        return (match.group(1) or "") + names[match.group(2)]

    return line.sub(rename, text), count


def json_or_none(data: str | bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


# --- The upstream call ---------------------------------------------------------------------------

@dataclass
class UpstreamCall:
    """Where a client's request goes and with which headers; credentials rewritten in place."""

    url: URL
    headers: CIMultiDict[str]

    def replace_tokens(self, replace: Callable[[str], str | None]) -> int:
        """Swap each token (header and query) for `replace(token)` when that is not None."""
        swapped = 0
        header = bearer(self.headers.get("Authorization"))
        if header and (new := replace(header)) is not None:
            self.headers["Authorization"] = f"Bearer {new}"
            swapped += 1
        query = self.url.query.get("token")
        if query and (new := replace(query)) is not None:
            self.url = self.url.update_query(token=new)
            swapped += 1
        return swapped

    def use_token(self, token: str) -> None:
        """Authenticate as `token` wherever the client put (or left out) its own."""
        self.headers["Authorization"] = f"Bearer {token}"
        if "token" in self.url.query:
            self.url = self.url.update_query(token=token)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: CIMultiDict[str]
    body: bytes

    def response(self) -> web.Response:
        return web.Response(status=self.status, headers=self.headers, body=self.body)


def json_answer(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


# --- The proxy -----------------------------------------------------------------------------------

class GateProxy:
    """`with GateProxy(upstream, faults={"drop_seq": 3}) as proxy:` ... `proxy.url`, `proxy.stats`.

    `proxy.faults = Faults.parse(...)` switches faults while it runs; each request reads them anew.

    `valid_token` is what `auth_disabled` substitutes; `user_tokens` maps a user to one of its
    tokens, for `authz_disabled=(B, A)`. `stats[fault]` counts the times a fault acted.
    """

    def __init__(self, upstream_url: str, faults: Mapping[str, Any] | Iterable[str] | None = None, *,
                 valid_token: str | None = None, user_tokens: Mapping[str, str] | None = None) -> None:
        self.upstream = URL(upstream_url.rstrip("/"))
        self.faults = Faults.parse(faults)
        self.valid_token = valid_token
        self.user_tokens = dict(user_tokens or {})
        if self.faults.auth_disabled and not valid_token:
            raise ValueError("auth_disabled needs valid_token=")
        if self.faults.authz_disabled and self.faults.authz_disabled[1] not in self.user_tokens:
            raise ValueError(f"authz_disabled needs a token of {self.faults.authz_disabled[1]!r} in user_tokens=")
        self.stats: Counter[str] = Counter()
        self.port = 0
        self._frozen: dict[str, Answer] = {}
        self._refusals: dict[str, bytes] = {}  # Sec-WebSocket-Key -> body of a refused upgrade
        self._sockets: set[asyncio.Task[Any]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="gate-proxy", daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def __enter__(self) -> GateProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    async def __aenter__(self) -> GateProxy:
        self._thread.start()
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._start(), self._loop))
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._stop(), self._loop))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, 5)
            self._loop.close()

    async def _start(self) -> None:
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(self._keep_refusal_body)
        # No connection cap and no session-wide total: the gate holds 100+ sockets through the proxy
        # while it posts requests, and a total would also end sockets held longer than it.
        self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), trace_configs=[trace],
                                              connector=aiohttp.TCPConnector(limit=0),
                                              timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        # Sockets go first and abruptly: a close handshake would wait on peers that may share a
        # loop blocked in `__exit__`.
        for task in list(self._sockets):
            task.cancel()
        await asyncio.gather(*self._sockets, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        prefix = self.faults.http_500_on
        if prefix is not None and request.path.startswith(prefix):
            self.stats[Fault.HTTP_500_ON] += 1
            return json_answer(500, "internal", f"injected by the gate proxy (http_500_on={prefix})")
        call = self._upstream_call(request)
        if request.path == "/ws" and request.headers.get("Upgrade", "").lower() == "websocket":
            if self.faults.ws_refused:
                self.stats[Fault.WS_REFUSED] += 1
                return json_answer(502, "bad_gateway", "WebSocket upgrades refused by the gate proxy (ws_refused)")
            if self.faults.ws_silent:
                self.stats[Fault.WS_SILENT] += 1
                return await self._silent_websocket(request)
            return await self._websocket(request, call)
        return await self._http(request, call)

    def _upstream_call(self, request: web.Request) -> UpstreamCall:
        skip = HOP_HEADERS | WS_HANDSHAKE_HEADERS
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in skip)
        call = UpstreamCall(URL(str(self.upstream) + request.raw_path, encoded=True), headers)
        if self.faults.authz_disabled:
            self.stats[Fault.AUTHZ_DISABLED] += call.replace_tokens(self._as_user_a)
        return call

    def _as_user_a(self, token: str) -> str | None:
        assert self.faults.authz_disabled is not None
        user_b, user_a = self.faults.authz_disabled
        return self.user_tokens[user_a] if token_sub(token) == user_b else None

    # --- HTTP ---

    async def _http(self, request: web.Request, call: UpstreamCall) -> web.StreamResponse:
        execution = POLL_PATH.match(request.path) if request.method == "GET" else None
        if self.faults.polling_frozen and execution and execution[1] in self._frozen:
            self.stats[Fault.POLLING_FROZEN] += 1
            return self._frozen[execution[1]].response()
        body = self._request_body(request, await request.read())
        answer = await self._forward(request.method, call, body)
        if answer is None:
            return json_answer(502, "bad_gateway", f"the upstream {self.upstream} is not answering")
        if answer.status == 401 and self.faults.auth_disabled:
            assert self.valid_token is not None
            call.use_token(self.valid_token)
            self.stats[Fault.AUTH_DISABLED] += 1
            answer = await self._forward(request.method, call, body) or answer
        answer = self._response_body(request.path, answer)
        if self.faults.polling_frozen and execution and answer.status == 200:
            # Only an answer the owner got: a refused poll (another user) must not freeze the view.
            self._frozen.setdefault(execution[1], answer)
        return answer.response()

    def _request_body(self, request: web.Request, body: bytes) -> bytes:
        if self.faults.cache_busted and request.method == "POST" and request.path == "/api/v1/diagnoses":
            parsed = json_or_none(body)
            if bust_cache(parsed):
                self.stats[Fault.CACHE_BUSTED] += 1
                return dumps(parsed).encode()
        return body

    def _response_body(self, path: str, answer: Answer) -> Answer:
        if answer.status != 200:
            return answer
        if self.faults.strip_friendly and answer.headers.get("Content-Type", "").startswith("application/json"):
            parsed = json_or_none(answer.body)
            if stripped := strip_friendly_body(path, parsed):
                self.stats[Fault.STRIP_FRIENDLY] += stripped
                return Answer(answer.status, answer.headers, dumps(parsed).encode())
        if self.faults.rename_metric and path == "/metrics":
            text, renamed = rename_metric_family(answer.body.decode(), *self.faults.rename_metric)
            if renamed:
                self.stats[Fault.RENAME_METRIC] += 1
                return Answer(answer.status, answer.headers, text.encode())
        return answer

    async def _forward(self, method: str, call: UpstreamCall, body: bytes) -> Answer | None:
        assert self._session is not None
        try:
            async with self._session.request(method, call.url, headers=call.headers, data=body or None,
                                             allow_redirects=False, timeout=aiohttp.ClientTimeout(total=30)) as resp:
                content = await resp.read()
                headers = CIMultiDict((k, v) for k, v in resp.headers.items() if k.lower() not in RESPONSE_SKIP)
                return Answer(resp.status, headers, content)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return None

    # --- WebSocket ---

    async def _websocket(self, request: web.Request, call: UpstreamCall) -> web.StreamResponse:
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        upstream = await self._ws_connect(call, protocols)
        if isinstance(upstream, Answer) and upstream.status == 401 and self.faults.auth_disabled:
            assert self.valid_token is not None
            call.use_token(self.valid_token)
            self.stats[Fault.AUTH_DISABLED] += 1
            upstream = await self._ws_connect(call, protocols)
        if isinstance(upstream, Answer):
            return upstream.response()
        client = web.WebSocketResponse(autoping=False, autoclose=False, max_msg_size=0, compress=False,
                                       timeout=CLOSE_TIMEOUT_S,
                                       protocols=[upstream.protocol] if upstream.protocol else ())
        await client.prepare(request)
        task = asyncio.current_task()
        assert task is not None
        self._sockets.add(task)
        try:
            await SocketRelay(self, request, client, upstream).run()
        finally:
            self._sockets.discard(task)
        return client

    async def _silent_websocket(self, request: web.Request) -> web.StreamResponse:
        """Open the client's socket and then say nothing: its frames are read and dropped, no
        ping, no close, until the client gives up or the proxy stops."""
        client = web.WebSocketResponse(autoping=False, autoclose=False, max_msg_size=0, compress=False)
        await client.prepare(request)
        task = asyncio.current_task()
        assert task is not None
        self._sockets.add(task)
        try:
            while (await client.receive()).type not in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
                pass
        finally:
            self._sockets.discard(task)
        return client

    async def _ws_connect(self, call: UpstreamCall, protocols: list[str]) -> aiohttp.ClientWebSocketResponse | Answer:
        assert self._session is not None
        try:
            return await self._session.ws_connect(call.url, headers=call.headers, protocols=protocols,
                                                  autoping=False, autoclose=False, max_msg_size=0, compress=0,
                                                  timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT_S))
        except aiohttp.WSServerHandshakeError as exc:
            key = exc.request_info.headers.get("Sec-WebSocket-Key", "")
            headers = CIMultiDict((k, v) for k, v in (exc.headers or {}).items() if k.lower() not in RESPONSE_SKIP)
            return Answer(exc.status, headers, self._refusals.pop(key, b""))
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return Answer(502, CIMultiDict(), b"")

    async def _keep_refusal_body(self, session: aiohttp.ClientSession, ctx: Any,
                                 params: aiohttp.TraceRequestEndParams) -> None:
        # ws_connect drops the body of a refused upgrade; kept here so the client gets the
        # service's own JSON error, matched to its handshake by the one-time key.
        key = params.headers.get("Sec-WebSocket-Key")
        if key and params.response.status != 101:
            self._refusals[key] = await params.response.read()

    # --- Frame rewrites, applied by SocketRelay ---

    def upward_text(self, text: str) -> str:
        """A client frame as it goes to the service."""
        if not (self.faults.replay_broken or self.faults.authz_disabled):
            return text
        frame = json_or_none(text)
        if not isinstance(frame, dict):
            return text
        changed = False
        last_seq = frame.get("last_seq")
        if self.faults.replay_broken and frame.get("type") == "subscribe" and isinstance(last_seq, int) and last_seq > 0:
            frame["last_seq"] = 0
            self.stats[Fault.REPLAY_BROKEN] += 1
            changed = True
        refresh = frame.get("token") if frame.get("type") == "refresh" else None
        if self.faults.authz_disabled and isinstance(refresh, str) and (swapped := self._as_user_a(refresh)):
            frame["token"] = swapped
            self.stats[Fault.AUTHZ_DISABLED] += 1
            changed = True
        return dumps(frame) if changed else text

    def downward_text(self, text: str) -> tuple[list[str], float]:
        """A service frame as the client gets it: zero, one or two copies, and how long to hold them."""
        if not self.faults.on_downward_frames:
            return [text], 0.0
        frame = json_or_none(text)
        if not isinstance(frame, dict) or frame.get("type") != "diagnosis_update":
            return [text], 0.0
        seq = frame.get("seq")
        if seq == self.faults.drop_seq:
            self.stats[Fault.DROP_SEQ] += 1
            return [], 0.0
        if self.faults.strip_friendly and frame.get("event") == "error" and strip_friendly(frame.get("data")):
            self.stats[Fault.STRIP_FRIENDLY] += 1
            text = dumps(frame)
        copies = [text]
        if seq == self.faults.duplicate_seq:
            self.stats[Fault.DUPLICATE_SEQ] += 1
            copies.append(text)
        if self.faults.push_delay_s:
            self.stats[Fault.PUSH_DELAY_S] += 1
        return copies, self.faults.push_delay_s


Send = Callable[[], Awaitable[Any]]  # one frame (or the close) to the client


class SocketRelay:
    """One client socket and its upstream socket, relayed frame by frame in both directions.

    Frames to the client leave through one queue, each at its due time, so a held frame holds
    the ones behind it and the order is kept. A close from either side is passed on with its code
    and reason, and the other side's answer is passed back.
    """

    def __init__(self, proxy: GateProxy, request: web.Request, client: web.WebSocketResponse,
                 upstream: aiohttp.ClientWebSocketResponse) -> None:
        self.proxy = proxy
        self.request = request
        self.client = client
        self.upstream = upstream
        self.outbox: asyncio.Queue[tuple[float, Send | None]] = asyncio.Queue()

    async def run(self) -> None:
        pumps = [asyncio.ensure_future(self._upward()), asyncio.ensure_future(self._downward())]
        deliver = asyncio.ensure_future(self._deliver())
        patience = CLOSE_TIMEOUT_S + self.proxy.faults.push_delay_s
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            await asyncio.wait(pumps, timeout=patience)  # the other side's answer to the close
            self.outbox.put_nowait((0.0, None))
            await asyncio.wait([deliver], timeout=patience)  # what was held, then the relayed close
        finally:
            for pump in (*pumps, deliver):
                pump.cancel()
            await asyncio.gather(*pumps, deliver, return_exceptions=True)
        # A pump that failed (a peer gone mid-send) left its side open.
        if not self.upstream.closed:
            await self.upstream.close(code=CLOSE_GOING_AWAY)
        if not self.client.closed:
            await self.client.close(code=CLOSE_GOING_AWAY)

    async def _upward(self) -> None:
        client, upstream = self.client, self.upstream
        while True:
            msg = await client.receive()
            if msg.type == WSMsgType.TEXT:
                await upstream.send_str(self.proxy.upward_text(msg.data))
            elif msg.type == WSMsgType.BINARY:
                await upstream.send_bytes(msg.data)
            elif msg.type == WSMsgType.PING:
                await upstream.ping(msg.data)
            elif msg.type == WSMsgType.PONG:
                await upstream.pong(msg.data)
            elif msg.type == WSMsgType.CLOSE:
                await upstream.close(code=msg.data, message=_reason(msg.extra))
                await client.close(code=upstream.close_code or msg.data)
                return
            elif msg.type == WSMsgType.CLOSING:  # the service closed: _downward relays it
                return
            else:  # the client vanished without a close frame
                await upstream.close(code=CLOSE_GOING_AWAY)
                return

    async def _downward(self) -> None:
        loop = asyncio.get_running_loop()
        client, upstream = self.client, self.upstream
        while True:
            msg = await upstream.receive()
            now = loop.time()
            if msg.type == WSMsgType.TEXT:
                copies, hold = self.proxy.downward_text(msg.data)
                for text in copies:
                    self.outbox.put_nowait((now + hold, partial(client.send_str, text)))
            elif msg.type == WSMsgType.BINARY:
                self.outbox.put_nowait((now, partial(client.send_bytes, msg.data)))
            elif msg.type == WSMsgType.PING:
                self.outbox.put_nowait((now, partial(client.ping, msg.data)))
            elif msg.type == WSMsgType.PONG:
                self.outbox.put_nowait((now, partial(client.pong, msg.data)))
            elif msg.type == WSMsgType.CLOSE:
                self.outbox.put_nowait((now, partial(self._relay_close, msg.data, _reason(msg.extra))))
                return
            elif msg.type == WSMsgType.CLOSING:  # the client closed: _upward relays it
                return
            else:  # the service vanished without a close frame: so does the proxy, to the client
                self.outbox.put_nowait((now, self._abort_client))
                return

    async def _relay_close(self, code: int, reason: bytes) -> None:
        await self.client.close(code=code, message=reason)
        await self.upstream.close(code=self.client.close_code or code)

    async def _abort_client(self) -> None:
        if self.request.transport is not None:
            self.request.transport.abort()

    async def _deliver(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, send = await self.outbox.get()
            if send is None:
                return
            await asyncio.sleep(max(due - loop.time(), 0))
            await send()


def _reason(extra: Any) -> bytes:
    return extra.encode() if isinstance(extra, str) else b""
