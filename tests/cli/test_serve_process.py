"""`diagops serve` as a real process: shutdown, logs, random secret, end to end with `run`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading

import websocket

from diagops.procs.ports import free_port
from diagops.procs.probes import http_status
from diagops.push.protocol import CLOSE_GOING_AWAY
from tests.cli.test_cli_edge import diagops
from tests.servicekit import REPO, SECRET, serve_process, token
from tests.waiting import wait_for


def test_sigterm_closes_sockets_1001_after_delivering_what_was_accepted(tmp_path):
    with serve_process(tmp_path, env={"DIAGOPS_ENGINE__SPEED": "0.5"}) as svc:
        from diagops.push.client import start_diagnosis

        started = start_diagnosis(svc.url, token(), {"brand": "Acme"})
        ws = websocket.create_connection(svc.ws_url, header=[f"Authorization: Bearer {token()}"], timeout=10)
        ws.send(json.dumps({"type": "subscribe", "execution_id": started["execution_id"]}))
        assert json.loads(ws.recv())["type"] == "subscribed"
        seqs = [json.loads(ws.recv())["seq"]]  # replayed `queued`
        svc.process.send_signal(signal.SIGTERM)
        while True:
            opcode, payload = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            if opcode == websocket.ABNF.OPCODE_TEXT:
                seqs.append(json.loads(payload)["seq"])
        assert int.from_bytes(payload[:2], "big") == CLOSE_GOING_AWAY
        assert seqs == list(range(1, len(seqs) + 1))
        assert svc.process.wait(timeout=15) == 0
        assert "stopping: closing connections with 1001" in svc.log()


def test_json_logs_are_one_object_per_line(tmp_path):
    with serve_process(tmp_path, args=["--log-format", "json"]) as svc:
        diagops("run", "--brand", "x", "--url", svc.url, "--json", env={"DIAGOPS_JWT_SECRET": SECRET})
    lines = [line for line in svc.log().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    access = [e for e in entries if e.get("path") == "/api/v1/diagnoses"]
    assert access and access[0]["status"] == 202 and access[0]["method"] == "POST"


def test_without_a_secret_serve_prints_a_ready_token(tmp_path):
    port = free_port()
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("DIAGOPS_")}
    proc = subprocess.Popen([sys.executable, "-m", "diagops", "serve", "--port", str(port), "--config", "/dev/null"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lambda: http_status(f"http://127.0.0.1:{port}/readyz") == 200, 20, "serve to be ready")
        printed = wait_for(lambda: [line for line in list(lines) if line.startswith("eyJ")], 5, "the token")
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws?token={printed[0].strip()}", timeout=5)
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv())["type"] == "pong"
        ws.close()
        page = wait_for(lambda: [line for line in list(lines) if line.startswith("Watch a diagnosis")], 5, "the page")
        assert page[0].split(": ", 1)[1].strip() == f"http://127.0.0.1:{port}/?token={printed[0].strip()}"
        assert http_status(f"http://127.0.0.1:{port}/") == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
