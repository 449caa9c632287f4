"""`diagops bench` end to end against real services: small, fast runs checked for consistency,
and the faults each objective exists for (cache off, added push latency) made to fail it."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from diagops.bench.document import schema
from diagops.checks.context import GateContext
from diagops.checks.inputs import GateInputs
from diagops.checks.performance import bench_results
from diagops.push.client import start_diagnosis
from diagops.spec import load_spec
from tests.cli.test_cli_edge import diagops
from tests.gateproxy import GateProxy
from tests.servicekit import SECRET, serve_process, token

# Few distinct requests and a fast engine: few twins arrive while a result is still being computed,
# so the hit ratio stays above the objective even on a loaded machine.
QUICK_CACHE = ("bench", "cache", "-n", "400", "--rate", "250", "--distinct", "10", "--engine-speed", "2000", "--json")
QUICK_LATENCY = ("bench", "latency", "--diagnoses", "2", "--poll-scale", "0.05", "--timeout", "60s", "--json")


def run_json(*args: str, timeout: float = 120) -> tuple[int, dict[str, Any], str]:
    done = diagops(*args, timeout=timeout)
    doc = json.loads(done.stdout) if done.stdout.strip() else {}
    if doc:
        jsonschema.validate(doc, schema())
    return done.returncode, doc, done.stderr


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secret") / "jwt"
    path.write_text(SECRET, encoding="utf-8")
    return path


def verify_reads(doc: dict[str, Any], tmp_path: Path) -> Any:
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    ctx = GateContext(spec=load_spec("/dev/null", env={}), target="http://127.0.0.1:9", secret="s" * 32,
                      inputs=GateInputs(bench=path))
    return asyncio.run(bench_results(ctx))


def test_cache_on_the_embedded_service_agrees_with_its_counters_and_stays_below_the_optimum(tmp_path):
    code, doc, err = run_json(*QUICK_CACHE, "--out", str(tmp_path))
    assert code == 0, err
    run = doc["run"]
    ratios, counts = run["hit_ratio"], run["counts"]
    assert counts["agree"] and counts["client_hits"] == counts["server_hits"]
    assert counts["answered"] == 400 == counts["server_hits"] + counts["server_misses"]
    assert ratios["client"] == ratios["server"] == doc["hit_ratio"] >= 0.8
    # the configured cache holds every key: Belady is the unbounded cache, and nothing beats it
    assert ratios["belady"] == ratios["unbounded"] >= ratios["client"]
    assert run["latency"]["hit"]["count"] + run["latency"]["miss"]["count"] == 400
    assert (tmp_path / "bench-cache.json").is_file() and "Belady" in (tmp_path / "bench-cache.md").read_text()
    outcome = verify_reads(doc, tmp_path)
    assert outcome.status == "pass", outcome.summary


def test_a_capacity_sweep_prints_the_service_beside_belady(tmp_path):
    code, doc, err = run_json("bench", "cache", "-n", "300", "--rate", "400", "--distinct", "60", "--sweep", "capacity",
                              "--points", "5", "--capacity", "1000", "--engine-speed", "1000", "--json", "--out", str(tmp_path), timeout=180)
    assert code in (0, 1), err
    points = doc["sweep"]["points"]
    assert [p["value"] for p in points] == [5, 1000]  # the configured capacity is always a point
    for p in points:
        assert p["counts"]["agree"]
        assert p["hit_ratio"]["belady"] >= p["hit_ratio"]["client"]
        assert p["hit_ratio"]["belady"] >= p["hit_ratio"]["lru_offline"]
        assert p["hit_ratio"]["belady"] >= p["hit_ratio"]["tinylfu_offline"]
        assert p["cache"]["policy"] == "tinylfu"  # the default, reported with the figures
    assert points[0]["hit_ratio"]["belady"] < points[1]["hit_ratio"]["belady"] == points[1]["hit_ratio"]["unbounded"]
    assert (tmp_path / "charts" / "bench-cache-capacity.svg").read_text().startswith("<svg")


def test_the_old_lru_policy_stays_selectable_and_is_reported(tmp_path):
    code, doc, err = run_json(*QUICK_CACHE, "--policy", "lru", "--capacity", "3", "--out", str(tmp_path))
    assert code in (0, 1), err
    run = doc["run"]
    assert run["cache"]["policy"] == "lru" and run["counts"]["agree"]
    assert run["hit_ratio"]["belady"] >= max(run["hit_ratio"]["lru_offline"], run["hit_ratio"]["tinylfu_offline"])
    assert "policy LRU" in (tmp_path / "bench-cache.md").read_text()


def test_a_service_with_the_cache_off_fails_the_cache_objective(tmp_path):
    code, doc, _ = run_json(*QUICK_CACHE, "--ttl", "0", "--out", str(tmp_path))
    assert code == 1
    assert doc["hit_ratio"] == 0 and doc["run"]["counts"]["agree"]
    assert any("cache hit ratio" in r for r in doc["verdict"]["reasons"])
    assert verify_reads(doc, tmp_path).status == "fail"


def test_another_client_on_the_target_makes_the_counts_disagree_which_fails(tmp_path, secret_file):
    with serve_process(tmp_path) as service:
        stop = threading.Event()

        def other_client() -> None:  # a second user of the same service, counted by its counters
            while not stop.is_set():
                start_diagnosis(service.url, token("someone-else"), {"brand": "elsewhere"})

        thread = threading.Thread(target=other_client, daemon=True)
        thread.start()
        try:
            code, doc, _ = run_json(*QUICK_CACHE, "--target", service.url, "--jwt-secret-file", str(secret_file),
                                    "--out", str(tmp_path))
        finally:
            stop.set()
            thread.join(10)
    assert code == 1
    assert not doc["run"]["counts"]["agree"]
    assert any("disagree" in r for r in doc["verdict"]["reasons"])


def test_latency_polling_staleness_is_bounded_by_its_interval_and_the_socket_wins(tmp_path):
    code, doc, err = run_json(*QUICK_LATENCY, "--out", str(tmp_path))
    assert code == 0, err
    socket, *polls = doc["modes"]
    assert socket["transport"] == "websocket" and [p["interval_s"] for p in polls] == [0.1, 0.25, 1.5]
    for row in doc["modes"]:
        assert row["finished"] == 2 and row["events"] == socket["events"] and not row["errors"]
    for poll in polls:
        # an event waits at most one interval for the next poll, plus that poll's answer
        assert poll["staleness"]["max_ms"] <= poll["interval_s"] * 1000 + 400
        assert poll["improvement"]["p95"] > 1
        assert poll["requests"] >= 2
    assert polls[0]["requests"] > polls[-1]["requests"]
    assert doc["share_within_threshold"] == 1.0
    assert (tmp_path / "charts" / "bench-latency.svg").is_file()


def test_added_push_latency_fails_the_latency_objective(tmp_path, secret_file):
    with serve_process(tmp_path) as service:
        with GateProxy(service.url, {"push_delay_s": 1.2}) as proxy:
            code, doc, _ = run_json(*QUICK_LATENCY, "--target", proxy.url, "--jwt-secret-file", str(secret_file),
                                    "--out", str(tmp_path))
    assert code == 1
    assert doc["modes"][0]["staleness"]["p50_ms"] >= 1200
    assert any("socket updates within 1 s" in r for r in doc["verdict"]["reasons"])


def test_push_steps_up_and_names_the_capacity(tmp_path):
    code, doc, err = run_json("bench", "push", "--steps", "10,30", "--seconds", "1", "--warmup", "0.3", "--period", "0.2",
                              "--json", "--out", str(tmp_path), timeout=120)
    assert code == 1, err  # 30 sockets at most: below the 100 the objective needs, whatever held
    steps = doc["steps"]
    sockets = [s["sockets"] for s in steps]
    assert sockets == [10, 30][:len(steps)]
    assert all(s["watchers_per_diagnosis"] == 1 and s["diagnoses"] == s["sockets"] for s in steps)
    assert all(s["held"] for s in steps[:-1])  # the climb stops at the first step that breaks
    held = [s["sockets"] for s in steps if s["held"]]
    assert doc["capacity"]["sockets"] == (held[-1] if held else None)
    assert all(s["limited_by"] for s in steps)
    assert any("sockets held" in r for r in doc["verdict"]["reasons"])


@pytest.mark.parametrize(("args", "words"), [
    (("bench", "cache", "--distribution", "trace"), "--trace FILE"),
    (("bench", "cache", "--rate", "10", "--concurrency", "2"), "exclude each other"),
    (("bench", "cache", "--sweep", "capacity"), "go together"),
    (("bench", "cache", "--sweep", "size", "--points", "1"), "capacity or ttl"),
    (("bench", "cache", "--sweep", "ttl", "--points", "1s", "--target", "http://127.0.0.1:9"), "embedded service only"),
    (("bench", "cache", "--target", "nope"), "is not a URL"),
    (("bench", "cache", "--jwt-secret-file", "/dev/null"), "only goes with --target"),
    (("bench", "latency", "--poll-scale", "0"), "above 0"),
    (("bench", "push", "--steps", "50,10"), "must increase"),
])
def test_usage_errors_are_one_line_and_exit_2(args, words):
    done = diagops(*args)
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("mode", ["cache", "latency", "push"])
def test_an_unreachable_target_exits_3(mode, secret_file):
    done = diagops("bench", mode, "--target", "http://127.0.0.1:9", "--jwt-secret-file", str(secret_file))
    assert done.returncode == 3 and "cannot reach" in done.stderr, done.stderr
