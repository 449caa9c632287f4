"""The checks that read other tools' results: a passing file passes, a failing or foreign one never does."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from diagops.checks.context import GateContext
from diagops.checks.inputs import GateInputs
from diagops.checks.performance import bench_results, loadtest_results
from diagops.spec import load_spec


def stamp(days_ago: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def loadtest_doc(*, passed: bool = True, users: int = 100, days_ago: float = 0.1, error_limit: float = 0.005) -> dict[str, Any]:
    rows = [{"name": "progress delivery p95", "limit": 1.0, "value": 0.02, "status": "pass"},
            {"name": "error rate", "limit": error_limit, "value": 0.0, "status": "pass"},
            {"name": "loss", "limit": 0.0, "value": 0.0 if passed else 1.0, "status": "pass" if passed else "fail"}]
    return {"schema_version": 1, "kind": "diagops.loadtest.results", "run": {"users": users, "finished_at": stamp(days_ago)},
            "thresholds": rows, "verdict": {"passed": passed, "exit_code": 0 if passed else 1, "reasons": []}}


def run(check: Any, tmp_path: Path, doc: Any, field: str) -> Any:
    path = tmp_path / "in.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    ctx = GateContext(spec=load_spec("/dev/null", env={}), target="http://127.0.0.1:9", secret="s" * 32,
                      inputs=GateInputs(**{field: path}))
    return asyncio.run(check(ctx))


@pytest.mark.parametrize(("doc", "status", "words"), [
    (loadtest_doc(), "pass", "100 users, every threshold held"),
    (loadtest_doc(passed=False), "fail", "the load test failed: loss"),
    (loadtest_doc(users=50), "fail", "ran 50 users, the objective is 100"),
    (loadtest_doc(days_ago=30), "warn", "it ran 30.0 days ago (limit 7)"),
    (loadtest_doc(error_limit=0.05), "warn", "its error rate limit 0.05 is not this spec's 0.005 (another spec)"),
    ({"kind": "something.else"}, "fail", "is not a diagops load-test results file"),
    ("{not json", "fail", "cannot read it as load-test results"),
])
def test_loadtest_results(tmp_path, doc, status, words):
    outcome = run(loadtest_results, tmp_path, doc, "loadtest")
    assert outcome.status == status and words in outcome.summary, outcome.summary


@pytest.mark.parametrize(("doc", "status", "words"), [
    ({"kind": "diagops.bench.cache", "finished_at": stamp(0), "hit_ratio": {"client": 0.86}}, "pass", "hit ratio 86.0%"),
    ({"kind": "diagops.bench.cache", "finished_at": stamp(0), "hit_ratio": {"client": 0.5}}, "fail", "50.0% (objective ≥ 80%)"),
    ({"kind": "diagops.bench.cache", "finished_at": stamp(0)}, "fail", "carries no hit ratio"),
    ({"kind": "diagops.bench.cache", "hit_ratio": 0.9}, "warn", "does not say when it ran"),
])
def test_bench_results(tmp_path, doc, status, words):
    outcome = run(bench_results, tmp_path, doc, "bench")
    assert outcome.status == status and words in outcome.summary, outcome.summary
