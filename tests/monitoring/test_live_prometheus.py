"""The generated rules and dashboard against a real Prometheus scraping a real `diagops serve`.

One run, three phases, the rules and dashboard generated from the test profile
(alerts/tests/profile-fast.yaml: same generator, windows and `for:` in seconds):
healthy traffic (every recording rule yields a series, no alert at all),
injected faults (error rate and engine latency: the matching budget alerts
fire), the service stopped (DiagopsDown). Every wait polls Prometheus for a
condition with a deadline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import pytest

from diagops.alerts import build_groups, render_rules
from diagops.dashboards.build import queries
from diagops.dashboards.generate import render_dashboard
from diagops.procs.ports import free_port
from diagops.spec import load_spec
from tests.monitoring.promkit import PROFILE, prometheus, require
from tests.monitoring.traffic import Traffic, complete_once
from tests.servicekit import REPO, serve_process
from tests.waiting import wait_for

RATE_INTERVAL = "10s"  # what Grafana's $__rate_interval is with a 1 s scrape (at least 4 scrapes)
T = TypeVar("T")

pytestmark = pytest.mark.timeout(150)


def run_status(url: str, window: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "diagops", "status", "--prometheus-url", url, "--spec", str(PROFILE), "--window", window, "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=30, check=False,
    )
    return done.returncode, json.loads(done.stdout)


def test_rules_and_dashboard_hold_against_real_prometheus(tmp_path: Path) -> None:
    require("prometheus")
    spec = load_spec(PROFILE, env={})
    rules = tmp_path / "rules.yml"
    rules.write_text(render_rules(spec), encoding="utf-8")
    records = sorted({r.record for g in build_groups(spec) for r in g.recordings})
    panels = [(title, expr.replace("$__rate_interval", RATE_INTERVAL)) for title, expr in queries(json.loads(render_dashboard(spec)))]
    port = free_port()
    marks: dict[str, float] = {}
    start = time.monotonic()

    def mark(name: str) -> None:
        marks[name] = round(time.monotonic() - start, 1)

    for name in ("healthy", "faulty"):
        (tmp_path / name).mkdir()
    with ExitStack() as outer:
        with ExitStack() as phase:
            healthy = phase.enter_context(serve_process(tmp_path / "healthy", port=port))
            complete_once(healthy.url, "hot-brand")  # later requests for it are cache hits
            traffic = phase.enter_context(Traffic(healthy.url, rounds_per_s=2, fresh_per_round=1, hot_per_round=8))
            prom = outer.enter_context(prometheus(tmp_path, [f"127.0.0.1:{port}"], [rules]))
            client = prom.client()

            def series(expr: str) -> list[dict[str, Any]]:
                return client.custom_query(expr)

            def value(expr: str) -> float:
                found = series(expr)
                return float(found[0]["value"][1]) if found else 0.0

            def missing(exprs: list[str]) -> list[str]:
                return [e for e in exprs if not series(e)]

            def active(name: str) -> list[str]:
                return [r["metric"]["alertstate"] for r in series(f'ALERTS{{alertname="{name}"}}')]

            mark("prometheus ready")
            wait_for(lambda: not missing(records), 45, f"recording rules to yield series (missing: {missing(records)})")
            mark("all recording rules")
            ready_at = time.time()
            # Let the longest healthy window (the cache's 30 s) fill with scrapes ...
            wait_for(lambda: value('count_over_time(up{job="diagops"}[30s])') >= 28, 60, "30 s of healthy scrapes")
            mark("healthy window filled")
            # ... in all of which no alert was pending or firing.
            span = max(int(time.time() - ready_at), 1)
            fired = series(f"count_over_time(ALERTS[{span}s])")
            assert fired == [], f"alerts on the healthy run: {[r['metric'] for r in fired]}"
            code, report = run_status(prom.url, "20s")
            assert code == 0, report
            assert {i["name"]: i["state"] for i in report["indicators"]} == {
                i["name"]: "ok" for i in report["indicators"]}, report
            assert traffic.failures == [] and traffic.frames > 0, (traffic.failures[:3], traffic.frames)
            mark("healthy checked")

        # Faults: 20 % of diagnoses fail, and every engine event is delayed 1 s (a diagnosis takes ~10 s).
        faults = {"DIAGOPS_ENGINE__FAILURE_RATE": "0.2", "DIAGOPS_ENGINE__ADDED_LATENCY_S": "1"}
        with serve_process(tmp_path / "faulty", port=port, env=faults) as faulty, \
                Traffic(faulty.url, rounds_per_s=3, fresh_per_round=1, prefix="faulty") as faulty_traffic:
            mark("faulty service up")
            wait_for(lambda: active("DiagopsDiagnosisErrorsFastBurn"), 45, "DiagopsDiagnosisErrorsFastBurn")
            mark("errors alert")
            wait_for(lambda: active("DiagopsDiagnosisDurationFastBurn"), 45, "DiagopsDiagnosisDurationFastBurn")
            mark("duration alert")
            wait_for(lambda: not missing([e for _, e in panels]), 20,
                 f"every dashboard query to return data (missing: {[t for t, e in panels if not series(e)]})")
            mark("all panels")
            code, report = run_status(prom.url, "20s")
            states = {i["name"]: i["state"] for i in report["indicators"]}
            assert code == 1 and states["Diagnosis errors"] == "violated", report
            # Which budget alerts are active at this instant varies (5 s short windows flap); some must be.
            assert [a for a in report["alerts"] if a["state"] == "firing"], report
            assert faulty_traffic.started > 0
        mark("faulty service stopped")
        # Stopped: the scrape fails and DiagopsDown goes pending (for: 3s), then firing.
        wait_for(lambda: active("DiagopsDown"), 20, "DiagopsDown")
        mark("down alert")
    print(f"\nlive Prometheus timeline (s): {marks}")
