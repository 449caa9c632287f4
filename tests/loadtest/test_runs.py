"""Real short Locust runs against a real push service on 127.0.0.1, through the real CLI.

Each run is a few seconds of 10-20 users; faults are real (an engine told to
fail, a slower engine, a proxy that delays or cuts connections).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import jsonschema

from diagops.loadtests.embedded import EmbeddedService
from diagops.loadtests.plan import LOCUSTFILE
from diagops.loadtests.results import load_schema
from tests.loadtest.conftest import SECRET, run_cli
from tests.faultproxy import FaultProxy
from tests.waiting import wait_for


def test_a_short_run_on_the_embedded_service_completes_every_diagnosis(tmp_path: Path) -> None:
    run = run_cli("--users", "20", "--spawn-rate", "20", "--duration", "8s", "--json", cwd=tmp_path)
    assert run.code == 0, run.stderr
    document = json.loads(run.stdout)
    jsonschema.validate(document, load_schema())
    assert document == run.results  # --json prints exactly what results.json holds
    d = document["diagnoses"]
    assert d["started"] >= 20 and d["completed"] == d["started"] and d["interrupted"] == 0
    assert 0 < d["cached"] < d["started"]  # the skewed catalogue repeats its popular brands
    assert document["loss"]["total"] == 0 and document["error_rate"] == 0
    assert document["connections"]["peak_open"] == 20 and document["run"]["embedded"]
    assert {t["status"] for t in document["thresholds"]} == {"pass"}
    assert document["latency"]["progress"]["count"] > 0 and document["latency"]["connect"]["count"] == 20
    assert len(document["timeseries"]) >= 7
    # Locust's own table agrees with our tally on what was delivered live.
    entries = {e["name"]: e for e in document["locust"]["entries"]}
    assert entries["progress"]["requests"] + entries["complete"]["requests"] == document["messages"]["live"]
    for name in ("summary.md", "locust.html", "locust_stats.csv", "locust_stats_history.csv", "timeseries.jsonl"):
        assert (run.out / name).stat().st_size > 0, name
    assert "# Load test: PASS" in (run.out / "summary.md").read_text()


def test_injected_engine_errors_fail_the_error_rate_threshold(tmp_path: Path) -> None:
    run = run_cli("--users", "10", "--duration", "5s", cwd=tmp_path,
                  env={"DIAGOPS_ENGINE__FAILURE_RATE": "0.3"})
    assert run.code == 1, run.stderr
    assert run.threshold("error rate")["status"] == "fail"
    assert run.threshold("events lost")["status"] == "pass"  # errors are delivered, not lost
    document = run.results
    assert document["diagnoses"]["errored"] > 0 and document["latency"]["error"]["count"] > 0
    assert any(reason.startswith("error event: AI_PLATFORM_ERROR") for reason in document["failures"])
    assert "FAIL" in run.stdout and "error rate" in run.stdout


def test_a_slow_engine_fails_the_diagnosis_duration_threshold_not_delivery(tmp_path: Path) -> None:
    (tmp_path / "diagops.yaml").write_text("slo:\n  diagnosis_duration:\n    threshold_s: 2\n")
    run = run_cli("--users", "10", "--duration", "5s", "--json", cwd=tmp_path,
                  env={"DIAGOPS_ENGINE__ADDED_LATENCY_S": "0.3"})
    assert run.code == 1, run.stderr
    assert run.threshold("diagnosis duration")["status"] == "fail"
    assert run.threshold("diagnosis duration")["value"] > 2.7  # nine events, 0.3 s before each
    assert run.threshold("progress delivery")["status"] == "pass"


def test_slow_delivery_through_a_delaying_proxy_fails_the_latency_threshold(
    tmp_path: Path, lt_service: EmbeddedService
) -> None:
    with FaultProxy(lt_service.port, delay_s=1.2) as proxy:
        run = run_cli("--host", proxy.url, "--token-secret", SECRET, "--users", "10", "--duration", "5s",
                      cwd=tmp_path)
    assert run.code == 1, run.stderr
    row = run.threshold("progress delivery")
    assert row["status"] == "fail" and row["value"] >= 1.2
    assert run.threshold("events lost")["status"] == "pass" and not run.results["run"]["embedded"]


def test_dropped_connections_reconnect_and_resume_without_loss(tmp_path: Path, lt_service: EmbeddedService) -> None:
    with FaultProxy(lt_service.port, drop_every_bytes=25_000, max_drops=3) as proxy:
        run = run_cli("--host", proxy.url, "--token-secret", SECRET, "--users", "20", "--duration", "8s",
                      "--json", cwd=tmp_path)
    assert proxy.stats.drops == 3, proxy.stats
    assert run.code == 0, run.stderr + run.stdout[-2000:]
    document = run.results
    conn = document["connections"]
    assert conn["reconnects"] >= proxy.stats.websockets_cut > 0
    assert conn["resubscribes"] > 0  # unfinished diagnoses were followed again from their last_seq
    assert sum(conn["disconnects"].values()) == conn["reconnects"]
    assert document["loss"] == {"events_lost": 0, "gaps": 0, "duplicates": 0, "diagnoses_without_final": 0, "total": 0}
    assert document["diagnoses"]["completed"] == document["diagnoses"]["started"] > 0


def test_two_workers_report_everything_to_the_master(tmp_path: Path) -> None:
    run = run_cli("--users", "10", "--duration", "5s", "--workers", "2", "--json", cwd=tmp_path)
    assert run.code == 0, run.stderr
    document = run.results
    roles = sorted(p["role"] for p in document["generator"]["processes"])
    assert roles == ["master", "worker", "worker"] and document["run"]["complete"]
    assert document["connections"]["peak_open"] == 10
    entries = {e["name"]: e for e in document["locust"]["entries"]}
    assert entries["progress"]["requests"] + entries["complete"]["requests"] == document["messages"]["live"]
    assert document["diagnoses"]["completed"] == document["diagnoses"]["started"] > 0


def test_users_answer_the_servers_heartbeat_pings_and_keep_their_sockets(tmp_path: Path) -> None:
    run = run_cli("--users", "10", "--duration", "5s", "--json", cwd=tmp_path,
                  env={"DIAGOPS_HEARTBEAT__INTERVAL_S": "0.3", "DIAGOPS_HEARTBEAT__TIMEOUT_S": "1"})
    assert run.code == 0, run.stderr
    conn = run.results["connections"]
    assert conn["server_pings_answered"] >= 10  # about one per socket and second of silence
    assert conn["disconnects"] == {} and conn["reconnects"] == 0


def test_a_generator_over_its_cpu_limit_makes_latency_invalid_and_the_run_fail(tmp_path: Path) -> None:
    # A 1 % limit makes this small run's real CPU samples count as saturation: the
    # probe -> raw tally -> verdict path is the real one, only the limit is lowered.
    (tmp_path / "diagops.yaml").write_text("loadtest:\n  generator_cpu_limit: 1\n  generator_saturated_share: 0.1\n")
    run = run_cli("--users", "10", "--duration", "4s", cwd=tmp_path)
    assert run.code == 1, run.stderr
    assert run.threshold("progress delivery")["status"] == "invalid"
    assert run.results["generator"]["saturated"]
    assert "generator saturated" in (run.out / "summary.md").read_text()
    assert "warning: generator saturated" in run.stdout


def test_the_locust_file_runs_under_plain_locust(tmp_path: Path, lt_service: EmbeddedService) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIAGOPS_")}
    env["DIAGOPS_JWT_SECRET"] = SECRET
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", lt_service.url, "--headless",
         "-u", "5", "-r", "5", "-t", "4s", "--stop-timeout", "10", "--csv", str(tmp_path / "plain"), "--only-summary"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats = (tmp_path / "plain_stats.csv").read_text()
    for name in ("connect", "progress", "complete", "diagnosis", "start diagnosis"):
        assert f",{name}," in stats
    assert not (tmp_path / "raw.json").exists()  # without --diagops-out it leaves Locust's files alone


def test_ctrl_c_keeps_the_partial_results_marked_interrupted_and_exits_130(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIAGOPS_")}
    proc = subprocess.Popen([sys.executable, "-m", "diagops", "loadtest", "--users", "5", "--duration", "60s",
                             "--json", "--out", str(out)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (out / "timeseries.jsonl").is_file() and (out / "timeseries.jsonl").stat().st_size > 0,
                 60, "the generator's first sample")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, load_schema())
    assert json.loads(stdout) == document
    assert document["run"]["interrupted"] is True and document["run"]["complete"] is False
    assert document["verdict"]["passed"] is False and any("interrupted" in r for r in document["verdict"]["reasons"])
    assert "interrupted" in stderr and str(out / "results.json") in stderr


def test_an_overloaded_embedded_service_refuses_and_the_verdict_says_refused_not_lost(tmp_path: Path) -> None:
    # Two slots at ~2 s a diagnosis for 20 users: the service refuses (503 overloaded) rather than queue.
    run = run_cli("--users", "20", "--spawn-rate", "20", "--duration", "6s", "--json", cwd=tmp_path,
                  env={"DIAGOPS_ENGINE__MAX_CONCURRENT_DIAGNOSES": "2", "DIAGOPS_LIMITS__MAX_QUEUE_WAIT_S": "0.5",
                       "DIAGOPS_LOADTEST__FINAL_TIMEOUT_S": "3", "DIAGOPS_LOADTEST__WEIGHTS__PING": "0"})
    document = run.results
    d = document["diagnoses"]
    assert d["refusals"]["overloaded"] > 0 and d["start_failed"] == 0, d  # busy answers are not failed starts
    assert run.threshold("events lost")["status"] == "pass"  # nothing was lost: the service said no at once
    assert run.threshold("refused")["value"] == d["refused_ratio"]
    if d["refused"]:
        assert run.code == 1 and any(r.startswith("refused: fail") for r in document["verdict"]["reasons"])
    assert "503 overloaded" in (run.out / "summary.md").read_text()
