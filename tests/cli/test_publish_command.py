"""`diagops publish` against a real `diagops serve` process."""

from __future__ import annotations

import json

from diagops.procs.ports import free_port
from tests.cli.test_cli_edge import diagops
from tests.servicekit import SECRET, serve_process


def test_publish_prints_the_seq_and_refusals_exit_2(tmp_path):
    env = {"DIAGOPS_JWT_SECRET": SECRET}
    with serve_process(tmp_path) as svc:
        first = diagops("publish", "e-cli-1", "--event", "progress", "--data", '{"progress": 10}', "--owner", "alice",
                        "--url", svc.url, "--json", env=env)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout) == {"execution_id": "e-cli-1", "seq": 1}
        second = diagops("publish", "e-cli-1", "-e", "progress", "-d", '{"progress": 20}', "--url", svc.url, env=env)
        assert (second.returncode, second.stdout.strip()) == (0, "e-cli-1 seq 2")
        lower = diagops("publish", "e-cli-1", "-e", "progress", "-d", '{"progress": 5}', "--url", svc.url, env=env)
        assert lower.returncode == 2 and "422 regression" in lower.stderr and "Traceback" not in lower.stderr
    bad = diagops("publish", "e-cli-1", "-e", "progress", "-d", "[1]", "--url", "http://127.0.0.1:1", env=env)
    assert bad.returncode == 2 and "JSON object" in bad.stderr


def test_publish_to_nothing_listening_exits_3():
    done = diagops("publish", "e-1", "-e", "progress", "-d", '{"progress": 1}', "--owner", "a",
                   "--url", f"http://127.0.0.1:{free_port()}", env={"DIAGOPS_JWT_SECRET": SECRET})
    assert done.returncode == 3 and "could not take the event" in done.stderr
