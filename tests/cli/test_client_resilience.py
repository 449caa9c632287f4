"""The terminal client (`diagops run`/`watch`, push.client) when the network misbehaves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import websocket

from diagops.push.client import follow, start_diagnosis
from tests.cli.test_cli_edge import diagops
from tests.faultproxy import FaultProxy
from tests.servicekit import REPO, SECRET, serve_process, token
from tests.waiting import wait_for


def test_a_dropped_socket_is_resumed_with_last_seq_and_nothing_is_missed(tmp_path):
    with serve_process(tmp_path, env={"DIAGOPS_ENGINE__SPEED": "4"}) as svc:
        port = int(svc.url.rsplit(":", 1)[1])
        with FaultProxy(port, drop_every_bytes=700, max_drops=3) as proxy:
            started = start_diagnosis(proxy.url, token(), {"brand": "Acme"})
            result = follow(proxy.url, token(), started["execution_id"], timeout=60)
        assert proxy.stats.drops >= 1
    assert result.reconnects >= 1 and not result.polled
    assert [e["seq"] for e in result.events] == list(range(1, len(result.events) + 1))
    assert result.final["event"] == "complete"


def test_when_no_socket_can_be_opened_the_client_polls(tmp_path):
    with serve_process(tmp_path, env={"DIAGOPS_LIMITS__MAX_CONNECTIONS": "1"}) as svc:
        holder = websocket.create_connection(svc.ws_url, header=[f"Authorization: Bearer {token()}"], timeout=5)
        try:
            done = diagops("run", "--brand", "Acme", "--url", svc.url, "--json", env={"DIAGOPS_JWT_SECRET": SECRET})
        finally:
            holder.close()
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["polled"] is True and body["event"] == "complete" and body["data"]["report"]


def test_a_diagnosis_that_ends_in_error_exits_1_with_the_friendly_message(tmp_path):
    env = {"DIAGOPS_ENGINE__FAILURE_RATE": "1", "DIAGOPS_ENGINE__FAILURE_TYPE": "RATE_LIMITED"}
    with serve_process(tmp_path, env=env) as svc:
        done = diagops("run", "--brand", "Acme", "--lang", "en", "--url", svc.url, env={"DIAGOPS_JWT_SECRET": SECRET})
        started = start_diagnosis(svc.url, token(), {"brand": "Other"})
        watched = diagops("watch", started["execution_id"], "--url", svc.url, "--token", token(), "--json")
    assert done.returncode == 1
    assert "RATE_LIMITED" in done.stdout and "Too many requests" in done.stdout and "retry later" in done.stdout
    assert watched.returncode == 1 and json.loads(watched.stdout)["data"]["retryable"] is True


def test_refusals_are_one_line_usage_errors_not_retry_loops(tmp_path):
    with serve_process(tmp_path) as svc:
        unknown = diagops("watch", "e-unknown", "--url", svc.url, "--token", token())
        bad_request = diagops("run", "--brand", "x", "--lang", "fr", "--url", svc.url, "--token", token())
        done = diagops("watch", "e-anything", "--url", svc.url, "--token", "not-a-token")
    assert unknown.returncode == 2 and "not_found" in unknown.stderr
    assert bad_request.returncode == 2 and "HTTP 400" in bad_request.stderr and "'lang'" in bad_request.stderr
    assert done.returncode == 2 and "refused the token" in done.stderr


def test_a_polling_timeout_without_a_final_event_is_not_success(tmp_path):
    env = {"DIAGOPS_LIMITS__MAX_CONNECTIONS": "1", "DIAGOPS_ENGINE__SPEED": "0.05"}
    with serve_process(tmp_path, env=env) as svc:
        holder = websocket.create_connection(svc.ws_url, header=[f"Authorization: Bearer {token()}"], timeout=5)
        try:
            done = diagops("run", "--brand", "Acme", "--url", svc.url, "--timeout", "2", "--json",
                           env={"DIAGOPS_JWT_SECRET": SECRET})
        finally:
            holder.close()
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert done.stdout == "" and "no final event" in done.stderr


def test_the_socket_path_gives_up_at_the_deadline_not_at_the_receive_timeout(tmp_path):
    with serve_process(tmp_path, env={"DIAGOPS_ENGINE__SPEED": "0.05"}) as svc:
        started = time.monotonic()
        done = diagops("run", "--brand", "Acme", "--url", svc.url, "--timeout", "2", env={"DIAGOPS_JWT_SECRET": SECRET})
        elapsed = time.monotonic() - started
    assert done.returncode == 3 and "no final event" in done.stderr, done.stderr
    assert elapsed < 2 + 3, f"took {elapsed:.1f}s for --timeout 2"  # 3 s: interpreter start and the HTTP start


def test_run_and_watch_go_to_the_configured_service_by_default(tmp_path):
    with serve_process(tmp_path) as svc:
        port = svc.url.rsplit(":", 1)[1]
        config = tmp_path / "diagops.yaml"
        config.write_text(f"service:\n  port: {port}\n")
        by_env = diagops("run", "--brand", "Acme", "--json", "--config", os.devnull,
                         env={"DIAGOPS_JWT_SECRET": SECRET, "DIAGOPS_PORT": port})
        by_file = diagops("run", "--brand", "Acme", "--json", "--config", str(config), env={"DIAGOPS_JWT_SECRET": SECRET})
        by_url = diagops("watch", json.loads(by_file.stdout)["execution_id"], "--json", "--config", os.devnull,
                         env={"DIAGOPS_JWT_SECRET": SECRET, "DIAGOPS_URL": svc.url})
    for done in (by_env, by_file, by_url):
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["event"] == "complete"
    helped = diagops("run", "--help")
    assert "DIAGOPS_URL" in helped.stdout and "service.port" in helped.stdout


def interrupted_run(url: str) -> tuple[int, str]:
    """`diagops run` against `url`, Ctrl-C (SIGINT) once it has started its diagnosis: (exit code, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIAGOPS_")}
    proc = subprocess.Popen([sys.executable, "-m", "diagops", "run", "--brand", "Acme", "--url", url, "--config",
                             os.devnull], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**env, "DIAGOPS_JWT_SECRET": SECRET})
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(line.startswith("started e-") for line in list(lines)), 20, "run to start a diagnosis")
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=5)  # its pipe closed with the process
    return code, "".join(lines)


def test_ctrl_c_on_run_says_the_diagnosis_goes_on_and_how_to_follow_it(tmp_path):
    with serve_process(tmp_path, env={"DIAGOPS_ENGINE__SPEED": "0.05"}) as svc:
        code, said = interrupted_run(svc.url)
    execution_id = said.split("started ", 1)[1].split()[0]
    assert code == 130
    assert f"diagops watch {execution_id} --url {svc.url}" in said and "goes on on the server" in said
