"""Structured logs: text for people, JSON lines for log pipelines."""

from __future__ import annotations

import json
import logging
import sys
import time

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# C0, DEL and C1 controls, and the Unicode line and paragraph separators, as visible escapes.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"})


class TextFormatter(logging.Formatter):
    """One record, one line: a message carrying what a client chose (a request path with %0A,
    %00 or terminal escapes in it) could otherwise forge log lines. Tracebacks keep their lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        if not record.message.isprintable():
            record.message = record.message.translate(_ESCAPES)
        return super().formatMessage(record)


def text_formatter() -> logging.Formatter:
    return TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure_logging(fmt: str, *, debug: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(text_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger("aiohttp.access").setLevel(logging.INFO)


class AccessLogger(AbstractAccessLogger):
    """One line per request, with the fields a log pipeline filters on. An accepted publish is
    logged at DEBUG: an engine posts thousands a second, each line cost more than storing the
    event, and the events_published_total counter already counts them. A refused publish, and
    every other request, is logged at INFO as before."""

    def log(self, request: BaseRequest, response: StreamResponse, duration: float) -> None:
        accepted_publish = request.method == "POST" and response.status < 300 and _is_publish(request.path)
        level = logging.DEBUG if accepted_publish else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        fields = {
            "method": request.method, "path": request.path, "status": response.status,
            "duration_ms": round(duration * 1000, 2), "remote": request.remote,
        }
        self.logger.log(level, "%s %s %s %.1fms", request.method, request.path, response.status, duration * 1000,
                        extra={"fields": fields})


def _is_publish(path: str) -> bool:
    return path == "/api/v1/events" or (path.startswith("/api/v1/executions/") and path.endswith("/events"))
