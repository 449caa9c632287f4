"""Locust file: simulated mini-program users watching diagnoses over one long-lived socket.

    locust -f loadtests/locust/locustfile.py --host http://127.0.0.1:8765

opens Locust's web UI as usual (tokens are minted from $DIAGOPS_JWT_SECRET or
`--token-secret`, or taken from $DIAGOPS_LOADTEST_TOKENS, one per line);
`diagops loadtest` runs this same file headless, in a child process, and judges
the result against `diagops.yaml`.

Each user gets a token, opens one WebSocket (reported as `connect`), and then
loops over weighted tasks with a think time between them: start a diagnosis
over HTTP, subscribe, and receive until its final event (`progress`,
`complete`, `error`: delivery latency, receive time minus the event's
`timestamp`; `diagnosis`: start to final event); the same with a request the
service answers from its cache; an application ping (`ping`). A seq gap, a
duplicate, an `error` event or a final event that never comes is a failure with
its reason. Events the server stored before we subscribed are `replay`, not
push latency.
"""

from __future__ import annotations

import itertools
import os
import random
import time
import uuid
from typing import Any

# First import: gevent monkey-patches the process (FINDINGS.md). Nothing heavy above this line.
from locust import events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

from gevent import GreenletExit

from diagops.loadtests.locust import coordinator as locust_hooks
from diagops.loadtests.locust.coordinator import COLLECTOR
from diagops.loadtests.locust.client import DiagnosisSocket
from diagops.loadtests.tracker import StreamTracker
from diagops.push.auth import mint_token

START_PATH = "/api/v1/diagnoses"
CACHED_BRANDS = ("diagops-loadtest-cached-a", "diagops-loadtest-cached-b", "diagops-loadtest-cached-c")
_token_index = itertools.count()


class DiagnosisFailure(Exception):
    """A failure as Locust's failure table shows it: a short, stable reason."""


class DiagnosisSocketUser(FastHttpUser):
    """One mini-program user: one socket for its whole life, many diagnoses on it."""

    def wait_time(self) -> float:
        options = self.environment.parsed_options
        return random.uniform(options.think_min, options.think_max)

    def on_start(self) -> None:
        self.sub = f"loadtest-{uuid.uuid4().hex[:12]}"
        self.token = self._token()
        self.auth = {"Authorization": f"Bearer {self.token}"}
        self.socket = DiagnosisSocket(_ws_url(self.host), lambda: self.token, self._fire, COLLECTOR)
        self.socket.start()

    def on_stop(self) -> None:
        socket = getattr(self, "socket", None)
        if socket is not None:
            socket.close()

    @task(4)
    def diagnose(self) -> None:
        """A fresh request (unique brand): the engine runs it and pushes live progress."""
        self._diagnose(f"loadtest-{uuid.uuid4().hex[:10]}")

    @task(1)
    def diagnose_cached(self) -> None:
        """A request asked before: after its first run the service answers from its cache."""
        self._diagnose(random.choice(CACHED_BRANDS))

    @task(1)
    def ping(self) -> None:
        rtt = self.socket.ping(self.environment.parsed_options.ping_timeout)
        if rtt is None:
            COLLECTOR.failure("no pong")
            self._fire("ping", self.environment.parsed_options.ping_timeout, 0, "no pong in time")
        else:
            COLLECTOR.latency_of("ping", rtt)
            self._fire("ping", rtt, 0, None)

    # -- one diagnosis -------------------------------------------------------------------

    def _diagnose(self, brand: str) -> None:
        options = self.environment.parsed_options
        body = {"brand": brand, "questions": [f"How is {brand} seen?"], "lang": "en"}
        started = time.time()
        with self.client.post(START_PATH, json=body, headers=self.auth, name="start diagnosis",
                              catch_response=True) as response:
            answer = _json(response) if response.status_code == 202 else None
            if answer is None or "execution_id" not in answer:
                error = getattr(response, "error", None)
                reason = (f"start failed: {type(error).__name__}" if not response.status_code and error is not None
                          else f"start answered HTTP {response.status_code}")
                COLLECTOR.count("diagnoses_start_failed")
                COLLECTOR.failure(reason)
                response.failure(reason)
                return
            response.success()
        COLLECTOR.count("diagnoses_started")
        if answer.get("cached"):
            COLLECTOR.count("diagnoses_cached")
        tracker = StreamTracker(str(answer["execution_id"]), started, cached=bool(answer.get("cached")))
        done = self.socket.watch(tracker)
        try:
            finished = done.wait(options.final_timeout)
        except GreenletExit:  # the run's stop timeout ran out before the final event
            COLLECTOR.count("diagnoses_interrupted")
            raise
        finally:
            self.socket.forget(tracker)
        self._judge(tracker, bool(finished), started, options.final_timeout)

    def _judge(self, tracker: StreamTracker, finished: bool, started: float, timeout_s: float) -> None:
        if not finished:
            COLLECTOR.count("diagnoses_timed_out")
            COLLECTOR.failure("no final event")
            self._fire("diagnosis", time.time() - started, 0, f"no final event within {timeout_s:g} s")
            return
        elapsed = (tracker.final_at or time.time()) - started
        COLLECTOR.latency_of("diagnosis", elapsed)
        if tracker.final_event == "error":
            COLLECTOR.count("diagnoses_errored")
            self._fire("diagnosis", elapsed, 0, f"ended in error: {tracker.error_type}")
        elif not tracker.intact:
            COLLECTOR.count("diagnoses_broken")
            self._fire("diagnosis", elapsed, 0, "stream had a gap or a duplicate")
        else:
            COLLECTOR.count("diagnoses_completed")
            self._fire("diagnosis", elapsed, 0, None)

    # -- plumbing -------------------------------------------------------------------

    def _fire(self, kind: str, seconds: float, length: int, failure: str | None) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=kind,
            response_time=seconds * 1000.0,
            response_length=length,
            exception=None if failure is None else DiagnosisFailure(failure),
            context={},
        )

    def _token(self) -> str:
        tokens = [t.strip() for t in os.environ.get("DIAGOPS_LOADTEST_TOKENS", "").splitlines() if t.strip()]
        if tokens:
            return tokens[next(_token_index) % len(tokens)]
        secret = self.environment.parsed_options.token_secret
        if not secret:
            raise StopUser("no token: set DIAGOPS_JWT_SECRET (or --token-secret) or DIAGOPS_LOADTEST_TOKENS")
        algorithm = self.environment.parsed_options.token_algorithm
        return mint_token(secret, self.sub, scopes=("subscribe",), ttl_s=24 * 3600, algorithm=algorithm)


def _ws_url(host: str) -> str:
    base = host.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://"):] + "/ws"
    if base.startswith("http://"):
        return "ws://" + base[len("http://"):] + "/ws"
    return base + "/ws"


def _json(response: Any) -> dict[str, Any] | None:
    try:
        value = response.json()
    except Exception:
        return None
    return value if isinstance(value, dict) else None


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    locust_hooks.add_arguments(parser)


@events.init.add_listener
def _init(environment: Any, **_: Any) -> None:
    locust_hooks.Coordinator(environment).install()


@events.test_start.add_listener
def _weights(environment: Any, **_: Any) -> None:
    """Task weights are options, read when a run starts (a worker learns them from the master then)."""
    options = environment.parsed_options
    if options is None:
        return
    tasks: list[Any] = (
        [DiagnosisSocketUser.diagnose] * options.diagnose_weight
        + [DiagnosisSocketUser.diagnose_cached] * options.cached_weight
        + [DiagnosisSocketUser.ping] * options.ping_weight
    )
    if tasks:
        DiagnosisSocketUser.tasks = tasks
