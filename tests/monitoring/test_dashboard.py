"""The dashboard: Grafana 11 schema, a datasource variable, the asked-for rows, objectives drawn, provisioning."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from diagops.alerts import build_groups
from diagops.cli.__main__ import main
from diagops.dashboards.build import queries
from diagops.dashboards.generate import PROVISIONING, render_dashboard
from diagops.spec import Spec
from tests.servicekit import REPO


@pytest.fixture(scope="module")
def board() -> dict:
    return json.loads(render_dashboard(Spec()))


def _panels(board: dict) -> list[dict]:
    return [p for p in board["panels"] if p["type"] != "row"]


def test_grafana_11_schema_with_a_datasource_variable(board: dict) -> None:
    assert board["schemaVersion"] == 41 and board["uid"] == "diagops"
    [variable] = board["templating"]["list"]
    assert (variable["type"], variable["name"], variable["query"]) == ("datasource", "datasource", "prometheus")
    for panel in _panels(board):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"]), panel["title"]


def test_rows_in_order(board: dict) -> None:
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == ["Traffic", "Latency", "Errors and error budget", "Cache", "Diagnoses", "Reliability"]


def test_panels_do_not_overlap(board: dict) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        g = panel["gridPos"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, panel["title"]
        assert g["x"] + g["w"] <= 24
        cells |= mine


def _panel(board: dict, title: str) -> dict:
    return next(p for p in _panels(board) if p["title"] == title)


def test_objectives_are_drawn_as_thresholds(board: dict) -> None:
    latency = _panel(board, "Push latency p50 / p95 / p99")
    assert [t["expr"][:22] for t in latency["targets"]] == ["histogram_quantile(0.5"] + ["histogram_quantile(0.9"] * 2
    assert latency["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"
    assert latency["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == 1.0
    cache = _panel(board, "Cache hit ratio")
    assert cache["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == 0.8
    errors = _panel(board, "Diagnosis error ratio")
    assert errors["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == 0.005
    burn = _panel(board, "Burn rate over 1h")
    assert [s["value"] for s in burn["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, 1.0, 14.4]


def _is_exposed(name: str, exposed: dict[str, str]) -> bool:
    """A raw series name is a family the service exposes, or a histogram's _bucket/_count/_sum."""
    base = re.sub(r"_(bucket|count|sum)$", "", name)
    return name in exposed or exposed.get(base) == "histogram"


async def test_every_metric_the_dashboard_reads_is_exposed_by_the_service_or_a_generated_rule(board: dict, service) -> None:
    records = {r.record for g in build_groups(Spec()) for r in g.recordings}
    names = set()
    for _, expr in queries(board):
        names |= set(re.findall(r"\b(diagops[:_][a-z_:0-9]+)", expr))
    rules = {n for n in names if ":" in n}
    assert rules and rules <= records, rules - records
    exposed = await service.metric_types()
    raw = names - rules
    assert raw and {n for n in raw if not _is_exposed(n, exposed)} == set()


def test_diagnosis_panels_cover_throughput_duration_active_and_queued(board: dict) -> None:
    exprs = " ".join(e for _, e in queries(board))
    for metric in ("diagops_diagnoses_total", "diagops_diagnosis_duration_seconds_bucket", "diagops_executions_active",
                   "diagops_diagnoses_queued", "diagops_ws_disconnections_total", "diagops_heartbeat_timeouts_total",
                   "diagops_slow_consumer_disconnects_total", "diagops_store_operation_seconds_bucket",
                   "diagops_messages_sent_total", "diagops_ws_connections"):
        assert metric in exprs, metric


def test_provisioning_loads_the_dashboard_from_the_default_datasource(board: dict) -> None:
    [provider] = yaml.safe_load((PROVISIONING / "dashboards" / "diagops.yaml").read_text())["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    [source] = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert source["type"] == "prometheus"
    assert source["uid"] == board["templating"]["list"][0]["current"]["value"]


def test_cli_writes_the_committed_dashboard(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d.json"
    assert main(["dashboards", "generate", "--spec", "/dev/null", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["panels"] == 24 and summary["schemaVersion"] == 41 and summary["changed"] is True
    assert out.read_text() == (REPO / "dashboards" / "diagops.json").read_text()
    assert main(["dashboards", "generate", "--spec", "/dev/null", "--out", str(out), "--check"]) == 0
