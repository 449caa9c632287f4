"""A user of the diagnosis push service, as Locust's contrib protocol users are: abstract.

`DiagnosisPushUser` does what a mini program does, and reports it: it holds one
WebSocket for its whole life (`connect`), starts a diagnosis over HTTP
(`start diagnosis`), follows its stream to the final event (`progress`,
`complete`, `error`: receive time minus the event's `timestamp`; `replay`:
events stored before it subscribed; `diagnosis`: start to final event), and
pings (`ping`). A locustfile subclasses it and says which of these, how often
and with which think time (`locustfile.py`); Locust never runs it by itself
(`abstract = True`).

It reads its timeouts and token source from the scenario's options
(`options.add_arguments`) and reports into the tally a `Coordinator` installed
on its environment.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from typing import Any

import gevent
from gevent import GreenletExit
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment
from locust.exception import StopUser

from diagops.loadtests.generator.client import DiagnosisSocket
from diagops.loadtests.generator.coordinator import collector_of
from diagops.loadtests.generator.reporting import Failure, Reporter
from diagops.loadtests.tracker import StreamTracker
from diagops.push.auth import mint_token
from diagops.push.client import RETRYABLE_START_CODES, parse_retry_after, retry_delay
from diagops.push.protocol import ws_url_for

START_PATH = "/api/v1/diagnoses"
TOKENS_ENV = "DIAGOPS_LOADTEST_TOKENS"
_token_index = itertools.count()  # users of one process take the given tokens in turn


class DiagnosisPushUser(FastHttpUser):
    """One mini-program user: one socket for its whole life, many diagnoses on it."""

    abstract = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.reporter = Reporter(environment.events.request, collector_of(environment))
        self.sub = f"loadtest-{uuid.uuid4().hex[:12]}"
        self.token = ""
        self.socket: DiagnosisSocket | None = None

    def on_start(self) -> None:
        self.token = self._token()
        self.socket = DiagnosisSocket(ws_url_for(self.host), lambda: self.token, self.reporter)
        self.socket.start()

    def on_stop(self) -> None:
        if self.socket is not None:
            self.socket.close()

    # -- what a user does -------------------------------------------------------------------

    def diagnose(self, brand: str) -> None:
        """Start a diagnosis of `brand` and follow it to its final event."""
        tracker = self.start_diagnosis(brand, time.time())
        if tracker is not None:
            self.follow(tracker)

    def start_diagnosis(self, brand: str, started: float) -> StreamTracker | None:
        """POST the diagnosis; its tracker, or None when the service did not accept it.

        A busy service's refusal (503 `overloaded`, 429 `too_many_diagnoses`) is retried after its
        Retry-After plus jitter, as a client should, until the final timeout (from `started`) would
        pass: then the diagnosis counts as refused, apart from failed starts. The diagnosis is timed
        from the request the service accepted; the waits before it are the refusals' cost."""
        body = {"brand": brand, "questions": [f"How is {brand} seen?"], "lang": "en"}
        headers = {"Authorization": f"Bearer {self.token}"}
        give_up_at = started + self.environment.parsed_options.final_timeout
        while True:
            sent_at = time.time()
            with self.client.post(START_PATH, json=body, headers=headers, name="start diagnosis",
                                  catch_response=True) as response:
                answer = _json(response) if response.status_code == 202 else None
                if answer is not None and "execution_id" in answer:
                    response.success()
                    break
                retry_after = _busy_retry_after(response)
                if retry_after is None:
                    reason = _start_failure(response)
                    response.failure(reason)  # Locust's HTTP client reports the request itself
                    self.reporter.tally("diagnoses_start_failed", reason)
                    return None
                code = _error_code(response)
                wait = retry_delay(retry_after)
                response.failure(f"refused: {code} (retried after Retry-After {retry_after:g} s plus jitter)")
                self.reporter.tally(f"start_refused_{code}")
            if time.time() + wait >= give_up_at:
                self.reporter.tally("diagnoses_refused", f"refused: {code}, gave up at the final timeout")
                return None
            gevent.sleep(wait)  # the server's Retry-After with jitter: the back-off itself
        started = sent_at
        cached = bool(answer.get("cached"))
        self.reporter.tally("diagnoses_started")
        if cached:
            self.reporter.tally("diagnoses_cached")
        return StreamTracker(str(answer["execution_id"]), started, cached=cached)

    def follow(self, tracker: StreamTracker) -> None:
        """Subscribe, wait for the final event (at most `--final-timeout`), report the diagnosis."""
        assert self.socket is not None, "follow() before on_start()"
        timeout_s = self.environment.parsed_options.final_timeout
        done = self.socket.watch(tracker)
        try:
            finished = bool(done.wait(timeout_s))
        except GreenletExit:  # the run's stop timeout ran out before the final event
            self.reporter.tally("diagnoses_interrupted")
            raise
        finally:
            self.socket.forget(tracker)
        self._judge(tracker, finished, timeout_s)

    def ping(self) -> None:
        """An application ping on the open socket, timed to its pong."""
        assert self.socket is not None, "ping() before on_start()"
        timeout_s = self.environment.parsed_options.ping_timeout
        rtt = self.socket.ping(timeout_s)
        if rtt is None:
            self.reporter.report("ping", timeout_s, latency=False, failure=Failure("no pong", "no pong in time"))
        else:
            self.reporter.report("ping", rtt)

    # -- judging one diagnosis -------------------------------------------------------------------

    def _judge(self, tracker: StreamTracker, finished: bool, timeout_s: float) -> None:
        if not finished:
            self.reporter.report("diagnosis", time.time() - tracker.started_at, latency=False,
                                 count="diagnoses_timed_out",
                                 failure=Failure("no final event", f"no final event within {timeout_s:g} s"))
            return
        elapsed = (tracker.final_at or time.time()) - tracker.started_at
        if tracker.final_event == "error":  # the error event itself was counted when it came
            self.reporter.report("diagnosis", elapsed, count="diagnoses_errored",
                                 failure=Failure(f"ended in error: {tracker.error_type}", tallied_elsewhere=True))
        elif not tracker.intact:  # so was each gap or duplicate
            self.reporter.report("diagnosis", elapsed, count="diagnoses_broken",
                                 failure=Failure("stream had a gap or a duplicate", tallied_elsewhere=True))
        else:
            self.reporter.report("diagnosis", elapsed, count="diagnoses_completed")

    # -- plumbing -------------------------------------------------------------------

    def _token(self) -> str:
        tokens = [t.strip() for t in os.environ.get(TOKENS_ENV, "").splitlines() if t.strip()]
        if tokens:
            return tokens[next(_token_index) % len(tokens)]
        options = self.environment.parsed_options
        if not options.token_secret:
            raise StopUser(f"no token: set DIAGOPS_JWT_SECRET (or --token-secret) or {TOKENS_ENV}")
        return mint_token(options.token_secret, self.sub, scopes=("subscribe",), ttl_s=24 * 3600,
                          algorithm=options.token_algorithm)


def _json(response: Any) -> dict[str, Any] | None:
    try:
        value = response.json()
    except Exception:
        return None
    return value if isinstance(value, dict) else None


def _error_code(response: Any) -> str | None:
    answer = _json(response)
    error = answer.get("error") if answer else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _busy_retry_after(response: Any) -> float | None:
    """Retry-After (s) of a refusal that asks the client to come back later, else None."""
    if response.status_code not in (429, 503) or _error_code(response) not in RETRYABLE_START_CODES:
        return None
    return parse_retry_after(response.headers.get("Retry-After"))


def _start_failure(response: Any) -> str:
    """A stable reason: the error's type when nothing answered, else the status."""
    error = getattr(response, "error", None)
    if not response.status_code and error is not None:
        return f"start failed: {type(error).__name__}"
    return f"start answered HTTP {response.status_code}"
