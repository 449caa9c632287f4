"""`diagops status` against Prometheus that is unreachable, or real but without the service.

The healthy and faulty cases run against the live service in test_live_prometheus.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from diagops.cli.__main__ import main
from diagops.procs.ports import free_port
from tests.monitoring.promkit import prometheus


def test_unreachable_prometheus_is_one_line_and_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    assert main(["status", "--prometheus-url", url, "--spec", "/dev/null"]) == 3
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"diagops: error: Prometheus unreachable at {url}: ConnectionError"]


def test_a_prometheus_without_the_service_names_the_missing_metric(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with prometheus(tmp_path, targets=[], rules=[]) as prom:
        assert main(["status", "--prometheus-url", prom.url, "--spec", "/dev/null", "--json"]) == 1
        captured = capsys.readouterr()
        report = json.loads(captured.out)
        assert captured.err.strip() == (
            "diagops: error: Diagnosis errors: metric diagops_diagnoses_total not in Prometheus: is the service scraped?")
        states = {i["name"]: (i["state"], i["detail"]) for i in report["indicators"]}
        assert states["Pushes within 1 s"] == ("no data", "metric diagops_push_latency_seconds_bucket, "
                                                "diagops_push_latency_seconds_count not in Prometheus: is the service scraped?")
        assert states["Targets up"] == ("no data", 'no target with job="diagops" in Prometheus')
        assert report["ok"] is False and report["alerts"] == []

        assert main(["status", "--prometheus-url", prom.url, "--spec", "/dev/null"]) == 1
        table = capsys.readouterr().out
        assert "Diagnosis errors" in table and "no data" in table and "No diagops alert pending or firing." in table


def test_watch_and_json_do_not_mix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--watch", "--json", "--spec", "/dev/null"]) == 2
    assert "--watch and --json do not go together" in capsys.readouterr().err


def test_watch_prints_a_snapshot_per_refresh_until_interrupted(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import threading

    from tests.servicekit import REPO

    with prometheus(tmp_path, targets=[], rules=[]) as prom:
        proc = subprocess.Popen(
            [sys.executable, "-m", "diagops", "status", "--watch", "--interval", "0.5", "-p", prom.url, "--spec", "/dev/null"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        )
        seen: list[str] = []
        two = threading.Event()

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                seen.append(line)
                if sum("Diagnosis errors" in s for s in seen) >= 2:
                    two.set()

        threading.Thread(target=read, daemon=True).start()
        try:
            assert two.wait(timeout=20), "".join(seen)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 130  # the README's code for an interrupt
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
