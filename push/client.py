"""A small synchronous client of the contract (websocket-client + urllib).

Used by `diagops watch` / `diagops run` and by the acceptance checks: start a
diagnosis, follow it over the socket, resume with `last_seq` after a drop, and
fall back to polling when no socket can be opened. No aiohttp, no gevent.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from diagops.push.protocol import FINAL_EVENTS, ws_url_for

RECONNECT_S = (0.2, 0.5, 1.0, 2.0, 5.0)
# Start refusals that say "busy, come back in Retry-After s" (docs/protocol.md): retried, not failed.
RETRYABLE_START_CODES = ("overloaded", "too_many_diagnoses")
RETRY_JITTER = 0.5  # wait Retry-After x (1 + up to this), so refused clients do not all return together
START_RETRY_S = 120.0  # how long start_diagnosis keeps retrying a busy service by default
# The HTTP status that means the same as a frame error, so callers treat both alike.
FRAME_ERROR_STATUS = {"not_found": 404, "forbidden": 403}


class ClientError(Exception):
    """The service refused or could not be reached; one readable line. `status` is the HTTP
    status when the service answered (a refusal of the request), None when it could not be reached."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code  # the error body's `error.code`, when it had one
        self.retry_after_s = retry_after_s  # the answer's Retry-After, when it had one

    @property
    def retryable_start(self) -> bool:
        """A start refused because the service is busy: wait Retry-After and send it again."""
        return self.code in RETRYABLE_START_CODES and self.retry_after_s is not None


@dataclass
class Progress:
    """What a watcher knows so far: enough to resume and to show."""

    execution_id: str
    last_seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    reconnects: int = 0
    polled: bool = False
    epoch: str | None = None  # the stream `last_seq` counts in, as the last `subscribed` named it
    resets: int = 0  # times the stored stream started over (a store that lost it) while followed

    @property
    def final(self) -> dict[str, Any] | None:
        last = self.events[-1] if self.events else None
        return last if last is not None and last.get("event") in FINAL_EVENTS else None


def http_json(method: str, url: str, token: str, body: Any = None, timeout: float = 10.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        detail = _error_message(body) or exc.reason
        raise ClientError(f"{method} {url}: HTTP {exc.code}: {detail}", exc.code, _error_code(body),
                          parse_retry_after(exc.headers.get("Retry-After"))) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ClientError(f"cannot reach {url}: {reason}") from None


def _error_message(body: bytes | None) -> str | None:
    """The `error.message` of a JSON error body (the service's words for a refusal), if there is one."""
    try:
        return str(json.loads(body or b"")["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return None


def _error_code(body: bytes | None) -> str | None:
    try:
        return str(json.loads(body or b"")["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the service sends whole seconds; an HTTP date is not expected)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < 86_400 else None


def retry_delay(retry_after_s: float | None, rng: random.Random | None = None) -> float:
    """Retry-After plus up to RETRY_JITTER of it again, drawn at random (1 s when none was given)."""
    base = retry_after_s or 1.0
    return base * (1 + (rng or random).uniform(0, RETRY_JITTER))


def start_diagnosis(base_url: str, token: str, body: dict[str, Any], *, retry_for_s: float = START_RETRY_S,
                    on_retry: Callable[[ClientError, float], None] | None = None) -> dict[str, Any]:
    """POST the diagnosis. A busy service's refusal (`overloaded`, `too_many_diagnoses`) is retried
    after its Retry-After plus jitter, for at most `retry_for_s`; `on_retry(refusal, wait_s)` is told
    before each wait, so a person can be told why nothing happens yet. Other refusals raise at once."""
    deadline = time.monotonic() + retry_for_s
    while True:
        try:
            return http_json("POST", base_url.rstrip("/") + "/api/v1/diagnoses", token, body)
        except ClientError as refusal:
            wait = retry_delay(refusal.retry_after_s)
            if not refusal.retryable_start or wait > _remaining(deadline):
                raise
            if on_retry is not None:
                on_retry(refusal, wait)
            time.sleep(wait)  # the server's Retry-After, with jitter: the back-off itself


def follow(
    base_url: str,
    token: str,
    execution_id: str,
    *,
    on_event: Callable[[dict[str, Any], Progress], None] | None = None,
    timeout: float = 600.0,
    poll_interval: float = 1.0,
    max_reconnects: int = 20,
) -> Progress:
    """Follow one execution to its final event; survives drops (resume by last_seq)."""
    import websocket  # websocket-client

    progress = Progress(execution_id)
    deadline = time.monotonic() + timeout
    failures = 0
    while progress.final is None and _remaining(deadline) > 0:
        try:
            ws = websocket.create_connection(ws_url_for(base_url), header=[f"Authorization: Bearer {token}"],
                                             timeout=min(10.0, _remaining(deadline)), skip_utf8_validation=True)
        except websocket.WebSocketBadStatusException as exc:
            if exc.status_code in (401, 403):
                reason = _error_message(getattr(exc, "resp_body", None)) or "refused the token"
                raise ClientError(f"the service refused the token (HTTP {exc.status_code}): {reason}",
                                  exc.status_code) from None
            ws = None
        except (websocket.WebSocketException, OSError):
            ws = None
        if ws is None:
            if progress.reconnects == 0 and not progress.events:
                _poll(base_url, token, progress, on_event, deadline, poll_interval)
                break
            failures += 1
        else:
            try:
                failures = 0 if _stream(ws, progress, on_event, deadline) else failures + 1
            finally:
                ws.close()
        if progress.final is None and _remaining(deadline) > 0:
            if failures > max_reconnects:
                raise ClientError(f"lost the connection {failures} times in a row; giving up")
            progress.reconnects += 1
            time.sleep(min(RECONNECT_S[min(failures, len(RECONNECT_S) - 1)], _remaining(deadline)))
    if progress.final is None:
        how = "polling" if progress.polled else "the socket"
        raise ClientError(f"no final event for {execution_id} within {timeout:g}s "
                          f"({len(progress.events)} event(s) via {how}); it may still be running: "
                          f"diagops watch {execution_id}")
    return progress


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _stream(ws: Any, progress: Progress, on_event: Callable[[dict[str, Any], Progress], None] | None, deadline: float) -> bool:
    """Read one connection's worth of frames; True if it got anything new."""
    import websocket

    subscribe: dict[str, Any] = {"type": "subscribe", "execution_id": progress.execution_id, "last_seq": progress.last_seq}
    if progress.epoch is not None:
        subscribe["epoch"] = progress.epoch
    ws.send(json.dumps(subscribe))
    got = False
    while progress.final is None and _remaining(deadline) > 0:
        try:
            ws.settimeout(_remaining(deadline))  # the deadline, not the connect timeout, bounds each wait
            raw = ws.recv()
        except (websocket.WebSocketException, OSError):
            return got
        if not raw:
            return got
        frame = json.loads(raw)
        if frame.get("type") == "error":
            code = frame.get("code")
            status = None if code == "unavailable" else FRAME_ERROR_STATUS.get(code, 400)
            raise ClientError(f"{code}: {frame.get('message')}", status)
        if frame.get("type") == "subscribed":
            _follow_epoch(frame, progress)
            continue
        if frame.get("type") != "diagnosis_update" or frame.get("seq", 0) <= progress.last_seq:
            continue
        _accept(frame, progress, on_event)
        got = True
    return got


def _follow_epoch(frame: dict[str, Any], progress: Progress) -> None:
    """Remember the stream's epoch; on a reset the events known so far belonged to a stream the
    service lost, and the new one is replayed from seq 1: start counting again."""
    if frame.get("reset"):
        progress.resets += 1
        progress.last_seq = 0
        progress.events.clear()
    epoch = frame.get("epoch")
    progress.epoch = epoch if isinstance(epoch, str) else None


def _poll(base_url: str, token: str, progress: Progress, on_event: Callable[[dict[str, Any], Progress], None] | None,
          deadline: float, interval: float) -> Progress:
    """The polling fallback: read stored events after last_seq until the final one."""
    progress.polled = True
    url = f"{base_url.rstrip('/')}/api/v1/executions/{progress.execution_id}/events"
    while progress.final is None and _remaining(deadline) > 0:
        for frame in http_json("GET", f"{url}?after={progress.last_seq}", token,
                               timeout=max(0.1, min(10.0, _remaining(deadline)))):
            _accept(frame, progress, on_event)
        if progress.final is None:
            time.sleep(min(interval, _remaining(deadline)))  # the polling period, bounded by the deadline
    return progress


def _accept(frame: dict[str, Any], progress: Progress, on_event: Callable[[dict[str, Any], Progress], None] | None) -> None:
    progress.last_seq = frame["seq"]
    progress.events.append(frame)
    if on_event is not None:
        on_event(frame, progress)
