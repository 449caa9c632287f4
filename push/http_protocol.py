"""What a connection answers before any handler runs: a request line or header aiohttp cannot
parse, or one over its 8,190-byte limit.

aiohttp answers those itself, as text/plain quoting the start of the offending line, which for
an `Authorization` header or a `?token=` URL is the credential (and it logs the same text). Here
they get the contract's JSON error body and a log line naming only the kind of error. The
runner below is what `diagops serve` and the tests both run, so the answer is the same.

It also bounds what aiohttp does not: the time a connection may take to send its request line
and headers (`limits.request_head_timeout_s`; aiohttp waits up to its keep-alive timeout, an
hour, and a slowloris client trickling a byte a second still got its 101), and how many
connections may be at that stage at once (`limits.max_unfinished_connections`), so they cannot
pile up past the WebSocket connection limit, which counts only upgraded sockets.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from diagops.push.http_util import json_error
from diagops.push.keys import METRICS, SPEC
from diagops.push.ws_masking import MaskedFramesOnly

_ANSWERS = {
    400: ("bad_request", "the request line or a header is malformed, or longer than 8190 bytes"),
    500: ("internal", "internal error; it has been logged"),
}


def raw_json_error(status: int, code: str, message: str, **headers: str) -> bytes:
    """A whole HTTP/1.1 error response in the contract's JSON format, for a connection that
    never got as far as a request aiohttp could answer."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Content-Type: application/json; charset=utf-8",
            f"Content-Length: {len(body)}", "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


TIMED_OUT = raw_json_error(408, "request_timeout", "the request line and headers took too long")
TOO_MANY_UNFINISHED = raw_json_error(503, "server_full", "too many connections are still sending their request",
                                     **{"Retry-After": "1"})


class ContractRequestHandler(RequestHandler):
    """aiohttp's handler with the contract's error bodies and a deadline on every request head.

    A head is "unfinished" from the connection's first byte (or from its opening) until the
    parser has the whole request line and headers. While unfinished, the connection is in its
    server's `unfinished` set, which is bounded; past the deadline it is answered 408 and closed.
    A request being handled, an upgraded socket and an idle keep-alive connection are not
    unfinished (the last is aiohttp's keep-alive timeout's)."""

    def __init__(self, manager: ContractServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._limits = manager
        self._head_deadline: asyncio.TimerHandle | None = None

    def set_parser(self, parser: Any, data_received_cb: Callable[[], None] | None = None) -> None:
        """aiohttp calls this once, with the WebSocket reader, when a socket is upgraded."""
        super().set_parser(MaskedFramesOnly(parser, self._close_unmasked), data_received_cb)

    def _close_unmasked(self) -> None:
        self.logger.info("closing a socket from %s with 1002: it sent an unmasked frame",
                         self.transport.get_extra_info("peername") if self.transport is not None else "?")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._head_started()

    def data_received(self, data: bytes) -> None:
        heads = self._request_count
        super().data_received(data)
        if self._upgraded or self._request_count > heads:
            self._head_finished()
        elif self._head_deadline is None and self._current_request is None and not self._messages:
            self._head_started()  # the first bytes of a keep-alive connection's next request

    def connection_lost(self, exc: BaseException | None) -> None:
        self._head_finished()
        super().connection_lost(exc)

    def _head_started(self) -> None:
        limits = self._limits
        if self.transport is None or self._force_close:
            return
        if len(limits.unfinished) >= limits.max_unfinished:
            self._refuse(TOO_MANY_UNFINISHED, "limit")
            return
        limits.unfinished.add(self)
        self._head_deadline = self._loop.call_later(limits.head_timeout_s, self._head_timed_out)

    def _head_finished(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        self._limits.unfinished.discard(self)

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        self._limits.unfinished.discard(self)
        if self._current_request is None and not self._messages:  # nothing is being answered: ours to end
            self._refuse(TIMED_OUT, "timeout")

    def _refuse(self, response: bytes, reason: str) -> None:
        self._limits.on_unfinished_closed(reason)
        transport = self.transport
        if transport is not None:
            transport.write(response)  # type: ignore[attr-defined]
        self.force_close()
        if transport is not None:
            transport.close()

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: part of a response is out, the connection is lost
            raise ConnectionError("a response was already being sent")
        if status == 500:
            self.log_exception("unhandled error on a request from %s", request.remote, exc_info=exc)
        else:  # the exception's text quotes what the client sent: name its kind only
            self.logger.info("refused a malformed request from %s (%d %s)", request.remote, status,
                             type(exc).__name__ if exc is not None else "")
        code, text = _ANSWERS.get(status, ("http_error", HTTPStatus(status).phrase))
        response = json_error(status, code, text)
        response.force_close()
        return response


class ContractServer(web.Server):
    def __init__(self, *args: Any, head_timeout_s: float, max_unfinished: int,
                 on_unfinished_closed: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout_s = head_timeout_s
        self.max_unfinished = max_unfinished
        self.on_unfinished_closed = on_unfinished_closed
        self.unfinished: set[ContractRequestHandler] = set()

    def __call__(self) -> RequestHandler:
        return ContractRequestHandler(self, loop=self._loop, **self._kwargs)  # as web.Server, with the handler above


class ContractRunner(web.AppRunner):
    """An AppRunner whose connections are ContractRequestHandlers."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        limits, metrics = self.app[SPEC].limits, self.app[METRICS]
        return ContractServer(server.request_handler, request_factory=server.request_factory,
                              loop=asyncio.get_running_loop(), head_timeout_s=limits.request_head_timeout_s,
                              max_unfinished=limits.max_unfinished_connections,
                              on_unfinished_closed=lambda reason: metrics.unfinished_closed.labels(reason).inc(),
                              **self._kwargs)
