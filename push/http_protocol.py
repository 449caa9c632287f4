"""What a connection answers before any handler runs: a request line or header aiohttp cannot
parse, or one over its 8,190-byte limit.

aiohttp answers those itself, as text/plain quoting the start of the offending line, which for
an `Authorization` header or a `?token=` URL is the credential (and it logs the same text). Here
they get the contract's JSON error body and a log line naming only the kind of error. The
runner below is what `diagops serve` and the tests both run, so the answer is the same.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from diagops.push.http_util import json_error

_ANSWERS = {
    400: ("bad_request", "the request line or a header is malformed, or longer than 8190 bytes"),
    500: ("internal", "internal error; it has been logged"),
}


class ContractRequestHandler(RequestHandler):
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
    def __call__(self) -> RequestHandler:
        return ContractRequestHandler(self, loop=self._loop, **self._kwargs)  # as web.Server, with the handler above


class ContractRunner(web.AppRunner):
    """An AppRunner whose connections are ContractRequestHandlers."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return ContractServer(server.request_handler, request_factory=server.request_factory,
                              loop=asyncio.get_running_loop(), **self._kwargs)
