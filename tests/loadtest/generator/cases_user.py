"""The abstract push user, driven without a server: frames in, Locust's entries and the tally out.

Locust's own way of testing its contrib users: patch the client's connection,
drive the user, assert on `environment.stats.entries[(name, type)]`. Here the
WebSocket is `scripted_server` and everything else is real: Locust's
environment, runner and statistics, the scenario's options parser, the
Coordinator's install, the user's client and stream tracker.

These cases need locust imported first, so `tests/loadtest/test_locust_side.py`
runs this file in a Locust process of its own.
"""

from __future__ import annotations

import locust  # noqa: F401  (first: gevent monkey-patches this process before anything else loads)

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import locust.runners
import pytest
import websocket
from locust.argument_parser import get_empty_argument_parser, setup_parser_arguments
from locust.env import Environment
from locust.event import Events
from locust.exception import StopUser
from locust.stats import StatsEntry
from locust.util.load_locustfile import load_locustfile

from diagops.loadtests.collector import Collector
from diagops.procs.ports import free_port
from diagops.loadtests.generator.coordinator import WORKER_REPORT_INTERVAL_S, Coordinator, collector_of
from diagops.loadtests.generator.options import add_arguments
from diagops.loadtests.generator.user import DiagnosisPushUser
from diagops.loadtests.plan import LOCUSTFILE
from diagops.loadtests.tracker import StreamTracker
from tests.loadtest.generator.scripted_server import DROP, ScriptedServer, subscribed, update
from tests.waiting import wait_for

SECRET = "locust-side-tests-secret-0123456789"


class UserUnderTest(DiagnosisPushUser):
    """A concrete user with no tasks: the tests call its operations themselves."""

    host = f"http://127.0.0.1:{free_port()}"  # nothing listens there: the start POST is refused at once


def environment(*args: str) -> Environment:
    """A local Locust environment with the scenario's options and an installed Coordinator."""
    parser = get_empty_argument_parser(add_help=False, default_config_files=[])
    setup_parser_arguments(parser)
    add_arguments(parser)
    options = parser.parse_args(["--token-secret", SECRET, *args])
    env = Environment(user_classes=[UserUnderTest], events=Events(), host=UserUnderTest.host,
                      parsed_options=options)
    env.create_local_runner()
    Coordinator(env).install()
    return env


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> ScriptedServer:
    scripted = ScriptedServer()
    monkeypatch.setattr(websocket, "create_connection", scripted.create_connection)
    return scripted


@pytest.fixture
def env() -> Environment:
    return environment()


@contextmanager
def started_user(env: Environment) -> Iterator[UserUnderTest]:
    """A user between its on_start (token, socket) and its on_stop."""
    user = UserUnderTest(env)
    user.on_start()
    try:
        yield user
    finally:
        user.on_stop()


@pytest.fixture
def user(env: Environment, server: ScriptedServer) -> Iterator[UserUnderTest]:
    with started_user(env) as started:
        yield started


def entry(env: Environment, name: str, request_type: str = "WS") -> StatsEntry:
    return env.stats.entries[(name, request_type)]


def errors(env: Environment) -> dict[tuple[str, str], int]:
    """Locust's failure table: (entry name, message) -> occurrences."""
    return {(e.name, str(e.error)): e.occurrences for e in env.stats.errors.values()}


def tally(env: Environment) -> Collector:
    return collector_of(env)


def follow(user: UserUnderTest, execution_id: str = "e-1") -> StreamTracker:
    """Follow one execution to its final event (or the final timeout), as the `diagnose` task does after its POST."""
    tracker = StreamTracker(execution_id, time.time())
    user.follow(tracker)
    return tracker


# -- the socket -------------------------------------------------------------------

def test_connecting_is_a_connect_entry_and_an_open_socket_with_the_users_token(
    env: Environment, server: ScriptedServer, user: UserUnderTest
) -> None:
    connect = entry(env, "connect")
    assert (connect.num_requests, connect.num_failures) == (1, 0)
    assert tally(env).counts["connects"] == 1 and tally(env).open_sockets == 1
    assert tally(env).latency["connect"].count == 1
    (kwargs,) = server.connect_kwargs
    assert kwargs["url"] == UserUnderTest.host.replace("http://", "ws://") + "/ws"
    assert kwargs["header"] == [f"Authorization: Bearer {user.token}"]


def test_a_refused_connect_is_a_connect_failure_and_the_receiver_retries(env: Environment, server: ScriptedServer) -> None:
    server.refuse_next = 1
    with started_user(env):
        wait_for(lambda: tally(env).counts["connects"] == 1, what="the retried connect")
        connect = entry(env, "connect")
        assert (connect.num_requests, connect.num_failures) == (2, 1)
        assert errors(env) == {("connect", "connect failed: ConnectionRefusedError: [Errno 111] Connection refused"): 1}
        assert tally(env).counts["connect_failures"] == 1
        assert tally(env).failures == {}  # counted as connect_failures, not twice
        assert tally(env).latency["connect"].count == 1  # the wait for a refusal is no latency


def test_a_dropped_socket_reconnects_and_resumes_each_open_diagnosis_from_its_last_seq(
    env: Environment, server: ScriptedServer, user: UserUnderTest
) -> None:
    server.on_subscribe("e-1", subscribed("e-1"), update("e-1", 1), update("e-1", 2), DROP)
    server.on_subscribe("e-1", subscribed("e-1", 3), update("e-1", 3), update("e-1", 4, "complete"))
    tracker = follow(user)
    first, second = server.sockets
    assert {"type": "subscribe", "execution_id": "e-1", "last_seq": 0} in first.sent
    assert {"type": "subscribe", "execution_id": "e-1", "last_seq": 2} in second.sent
    counts = tally(env).counts
    assert (counts["connects"], counts["reconnects"], counts["resubscribes"]) == (2, 1, 1)
    assert tally(env).disconnects == {"closed_without_frame": 1} and tally(env).open_sockets == 1
    assert tracker.intact and entry(env, "replay").num_requests == 1  # seq 3 was stored while we were away
    assert entry(env, "diagnosis").num_failures == 0


def test_an_unparseable_frame_is_a_frame_failure(env: Environment, server: ScriptedServer, user: UserUnderTest) -> None:
    server.sockets[0].push("not json")
    wait_for(lambda: entry(env, "frame").num_requests, what="the frame entry")
    assert errors(env) == {("frame", "unparseable frame from the server"): 1}
    assert tally(env).failures == {"unparseable frame": 1} and tally(env).counts["frame_errors"] == 1


def test_server_pings_are_counted_as_answered(env: Environment, server: ScriptedServer, user: UserUnderTest) -> None:
    server.sockets[0].push("", opcode=websocket.ABNF.OPCODE_PING)
    wait_for(lambda: tally(env).counts["server_pings"] == 1, what="the server ping")
    assert env.stats.errors == {}


# -- one diagnosis -------------------------------------------------------------------

def test_a_progress_frame_is_a_progress_entry_timed_from_the_frames_timestamp(
    env: Environment, server: ScriptedServer, user: UserUnderTest
) -> None:
    server.on_subscribe("e-1", subscribed("e-1"), update("e-1", 1, age_s=2.5), update("e-1", 2, "complete"))
    follow(user)
    progress = entry(env, "progress")
    assert (progress.num_requests, progress.num_failures) == (1, 0)
    assert 2500 <= progress.max_response_time < 3000  # ms: receive time minus the event's timestamp
    assert 2.5 <= tally(env).latency["progress"].maximum < 3.0
    assert entry(env, "complete").num_requests == 1
    diagnosis = entry(env, "diagnosis")
    assert (diagnosis.num_requests, diagnosis.num_failures) == (1, 0)
    counts = tally(env).counts
    assert (counts["events_received"], counts["events_live"], counts["diagnoses_completed"]) == (2, 2, 1)


def test_events_stored_before_subscribing_are_replays_not_push_latency(
    env: Environment, server: ScriptedServer, user: UserUnderTest
) -> None:
    server.on_subscribe("e-1", subscribed("e-1", 2), update("e-1", 1, age_s=5.0), update("e-1", 2, age_s=4.0),
                        update("e-1", 3, "complete"))
    follow(user)
    assert entry(env, "replay").num_requests == 2 and ("progress", "WS") not in env.stats.entries
    assert tally(env).latency["replay"].count == 2 and tally(env).latency["progress"].count == 0
    assert tally(env).counts["events_replayed"] == 2


def test_a_seq_gap_is_a_failure_with_its_reason_and_breaks_the_diagnosis(
    env: Environment, server: ScriptedServer, user: UserUnderTest
) -> None:
    server.on_subscribe("e-1", subscribed("e-1"), update("e-1", 1), update("e-1", 3), update("e-1", 4, "complete"))
    tracker = follow(user)
    progress = entry(env, "progress")
    assert (progress.num_requests, progress.num_failures) == (2, 1)
    assert errors(env) == {("progress", "seq gap"): 1, ("diagnosis", "stream had a gap or a duplicate"): 1}
    assert tally(env).failures == {"seq gap": 1}  # the broken diagnosis is that same fault
    counts = tally(env).counts
    assert (counts["gaps"], counts["events_lost"], counts["diagnoses_broken"]) == (1, 1, 1)
    assert not tracker.intact


def test_a_duplicate_fails_under_its_event_and_is_timed_only_once(
    env: Environment, server: ScriptedServer, user: UserUnderTest
) -> None:
    server.on_subscribe("e-1", subscribed("e-1"), update("e-1", 1), update("e-1", 1), update("e-1", 2, "complete"))
    follow(user)
    progress = entry(env, "progress")
    assert (progress.num_requests, progress.num_failures) == (2, 1)
    assert errors(env)[("progress", "duplicate")] == 1
    assert tally(env).latency["progress"].count == 1 and tally(env).counts["duplicates"] == 1
    assert tally(env).counts["diagnoses_broken"] == 1


def test_an_error_event_fails_the_diagnosis_and_is_counted_once(
    env: Environment, server: ScriptedServer, user: UserUnderTest
) -> None:
    server.on_subscribe("e-1", subscribed("e-1"), update("e-1", 1),
                        update("e-1", 2, "error", data={"error_type": "AI_PLATFORM_ERROR"}))
    tracker = follow(user)
    assert tracker.final_event == "error" and tracker.error_type == "AI_PLATFORM_ERROR"
    assert errors(env) == {("error", "error event: AI_PLATFORM_ERROR"): 1,
                           ("diagnosis", "ended in error: AI_PLATFORM_ERROR"): 1}
    assert tally(env).failures == {"error event: AI_PLATFORM_ERROR": 1}
    assert tally(env).counts["diagnoses_errored"] == 1
    assert tally(env).latency["error"].count == 1 and tally(env).latency["diagnosis"].count == 1


def test_no_final_event_within_the_timeout_is_a_failed_diagnosis_and_loss(server: ScriptedServer) -> None:
    env = environment("--final-timeout", "0.2")
    server.on_subscribe("e-1", subscribed("e-1"), update("e-1", 1))
    with started_user(env) as user:
        follow(user)
        assert {"type": "unsubscribe", "execution_id": "e-1"} in server.sockets[0].sent
    diagnosis = entry(env, "diagnosis")
    assert (diagnosis.num_requests, diagnosis.num_failures) == (1, 1)
    assert 200 <= diagnosis.max_response_time < 1000
    assert errors(env)[("diagnosis", "no final event within 0.2 s")] == 1
    assert tally(env).failures == {"no final event": 1} and tally(env).counts["diagnoses_timed_out"] == 1
    assert tally(env).latency["diagnosis"].count == 0  # a wait that ran out is not a duration


def test_a_refused_start_request_is_a_failed_start_and_no_diagnosis(env: Environment, user: UserUnderTest) -> None:
    user.diagnose("Acme")
    start = entry(env, "start diagnosis", "POST")
    assert (start.num_requests, start.num_failures) == (1, 1)
    assert tally(env).failures == {"start failed: ConnectionRefusedError": 1}
    assert tally(env).counts["diagnoses_start_failed"] == 1 and tally(env).counts["diagnoses_started"] == 0
    assert ("diagnosis", "WS") not in env.stats.entries


@contextmanager
def busy_service(refusals: int, code: str = "overloaded", retry_after: str = "0.05") -> Iterator[tuple[str, list[float]]]:
    """An HTTP endpoint whose first `refusals` start answers are busy refusals with Retry-After, then 202."""
    import http.server
    import threading

    seen: list[float] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append(time.monotonic())
            busy = len(seen) <= refusals
            status = (503 if code == "overloaded" else 429) if busy else 202
            body = ({"error": {"code": code, "message": "busy"}} if busy
                    else {"execution_id": "e-1", "cached": False})
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if busy:
                self.send_header("Retry-After", retry_after)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def busy_user(env: Environment, host: str) -> UserUnderTest:
    cls = type("BusyUser", (UserUnderTest,), {"host": host})
    user = cls(env)
    user.token = user._token()
    return user


def test_a_busy_refusal_is_retried_after_retry_after_plus_jitter_then_followed() -> None:
    env = environment()
    with busy_service(refusals=2) as (host, seen):
        tracker = busy_user(env, host).start_diagnosis("Acme", time.time())
    assert tracker is not None and tracker.execution_id == "e-1"
    gaps = [b - a for a, b in zip(seen, seen[1:])]
    assert len(seen) == 3 and all(0.05 <= gap for gap in gaps), gaps  # never sooner than Retry-After
    start = entry(env, "start diagnosis", "POST")
    assert (start.num_requests, start.num_failures) == (3, 2)
    assert errors(env)[("start diagnosis", "refused: overloaded (retried after Retry-After 0.05 s plus jitter)")] == 2
    counts = tally(env).counts
    assert (counts["start_refused_overloaded"], counts["diagnoses_started"]) == (2, 1)
    assert (counts["diagnoses_refused"], counts["diagnoses_start_failed"]) == (0, 0)


def test_refused_until_the_final_timeout_is_a_refused_diagnosis_not_a_failed_start() -> None:
    env = environment("--final-timeout", "0.4")
    with busy_service(refusals=1000, code="too_many_diagnoses", retry_after="0.1") as (host, seen):
        assert busy_user(env, host).start_diagnosis("Acme", time.time()) is None
    counts = tally(env).counts
    assert counts["diagnoses_refused"] == 1 and counts["start_refused_too_many_diagnoses"] == len(seen) >= 2
    assert counts["diagnoses_start_failed"] == 0 and counts["diagnoses_started"] == 0
    assert tally(env).failures == {"refused: too_many_diagnoses, gave up at the final timeout": 1}


# -- ping and tokens -------------------------------------------------------------------

def test_a_ping_answered_by_a_pong_is_a_ping_entry(env: Environment, server: ScriptedServer, user: UserUnderTest) -> None:
    user.ping()
    ping = entry(env, "ping")
    assert (ping.num_requests, ping.num_failures) == (1, 0)
    assert tally(env).latency["ping"].count == 1
    assert (tally(env).counts["pings_sent"], tally(env).counts["pongs"]) == (1, 1)


def test_a_ping_without_a_pong_in_time_is_a_ping_failure(server: ScriptedServer) -> None:
    server.answer_pings = False
    env = environment("--ping-timeout", "0.1")
    with started_user(env) as user:
        user.ping()
    ping = entry(env, "ping")
    assert (ping.num_requests, ping.num_failures) == (1, 1) and 100 <= ping.max_response_time < 200
    assert errors(env) == {("ping", "no pong in time"): 1} and tally(env).failures == {"no pong": 1}
    assert tally(env).latency["ping"].count == 0


def test_a_user_without_a_token_source_stops_before_connecting(server: ScriptedServer) -> None:
    user = UserUnderTest(environment("--token-secret", ""))
    with pytest.raises(StopUser, match="no token"):
        user.on_start()
    assert server.connect_kwargs == []


# -- the wiring -------------------------------------------------------------------

def test_the_tally_exists_only_once_a_coordinator_is_installed() -> None:
    bare = Environment(events=Events())
    with pytest.raises(RuntimeError, match="install a Coordinator"):
        collector_of(bare)
    locust.runners.WORKER_REPORT_INTERVAL = 3.0  # Locust's own default
    env = environment()
    assert isinstance(collector_of(env), Collector)
    assert locust.runners.WORKER_REPORT_INTERVAL == WORKER_REPORT_INTERVAL_S  # the live view's 1 s


def test_the_locustfile_offers_the_scenario_and_not_the_abstract_user() -> None:
    users, shapes = load_locustfile(str(LOCUSTFILE))
    assert list(users) == ["DiagnosisSocketUser"] and shapes == []
    scenario = users["DiagnosisSocketUser"]
    assert issubclass(scenario, DiagnosisPushUser) and DiagnosisPushUser.abstract
