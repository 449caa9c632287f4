"""From a raw tally to thresholds and a verdict; the document always matches its schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from diagops.loadtests import results, summary
from diagops.loadtests.collector import Collector
from diagops.spec import load_spec

SPEC = load_spec(env={})


def tally(*, progress_s: float = 0.002, diagnoses: int = 50, timed_out: int = 0, errored: int = 0,
          lost: int = 0, cached: int | None = None, refused: int = 0, refusals: int = 0) -> Collector:
    """A run's tally; `lost` events go missing from one stream each (a gap), breaking that diagnosis.
    `cached` of the diagnoses were answered from the service's cache (default 90 % of them).
    `refusals` start answers were 503 overloaded (retried), and `refused` diagnoses were given up."""
    c = Collector()
    c.count("diagnoses_refused", refused)
    c.count("start_refused_overloaded", refusals)
    c.count("diagnoses_cached", round(0.9 * (diagnoses + timed_out)) if cached is None else cached)
    for _ in range(500):
        c.latency_of("progress", progress_s)
    for _ in range(diagnoses):
        c.latency_of("diagnosis", 2.0)
    c.count("diagnoses_started", diagnoses + timed_out)
    c.count("diagnoses_completed", diagnoses - errored - lost)
    c.count("diagnoses_errored", errored)
    c.count("diagnoses_broken", lost)
    c.count("diagnoses_timed_out", timed_out)
    c.count("gaps", lost)
    c.count("events_lost", lost)
    for _ in range(20):
        c.socket_opened()
    return c


def raw(collector: Collector, *, cpu: list[float] | None = None, role: str = "local", complete: bool = True) -> dict[str, Any]:
    processes = [{"role": role, "pid": 1, "host": "h", "cpu_samples": cpu or [10.0] * 10, "lag": {}}]
    if role == "master":
        processes.append({"role": "worker", "pid": 2, "host": "h", "cpu_samples": [20.0] * 10, "lag": {}})
    return {"complete": complete, "workers_missing": 0 if complete else 1, "peak_open_sockets": 20,
            "collector": collector.to_dict(), "processes": processes, "locust": {"cpu_warning": False}, "options": {}}


def info(users: int = 20) -> results.RunInfo:
    return results.RunInfo(host="http://127.0.0.1:1", embedded=True, engine_speed=10.0, users=users, spawn_rate=20.0,
                           duration_s=10.0, workers=0, out=Path("/tmp/x"), started_at="2026-01-01T00:00:00.000Z",
                           finished_at="2026-01-01T00:00:10.000Z", generator_exit=0, generator_timed_out=False)


def build(raw_doc: dict[str, Any], users: int = 20) -> dict[str, Any]:
    document = results.build(raw_doc, [], SPEC, info(users))
    jsonschema.validate(document, results.load_schema())
    summary.render(document)  # renders whatever the outcome
    return document


def statuses(document: dict[str, Any]) -> dict[str, str]:
    return {t["name"]: t["status"] for t in document["thresholds"]}


def test_a_clean_run_passes_every_threshold_with_exit_0() -> None:
    document = build(raw(tally()))
    assert set(statuses(document).values()) == {"pass"}
    assert document["verdict"] == {"passed": True, "exit_code": 0, "reasons": []}


def test_slow_progress_fails_the_delivery_threshold_from_the_slo() -> None:
    document = build(raw(tally(progress_s=1.5)))
    assert statuses(document)["progress delivery p95"] == "fail"
    assert document["verdict"]["exit_code"] == 1


def test_a_diagnosis_without_final_event_never_finished_and_is_neither_lost_events_nor_an_error() -> None:
    document = build(raw(tally(diagnoses=99, timed_out=1)))
    assert document["diagnoses"]["timed_out"] == 1 and document["diagnoses"]["error_rate"] == 0
    assert statuses(document)["never finished"] == "fail"
    assert statuses(document)["events lost"] == "pass" and statuses(document)["error rate"] == "pass"
    [reason] = document["verdict"]["reasons"]
    assert reason.startswith("never finished: fail (1 vs <= 0) - accepted (202) but no final event within 30 s")


def test_one_lost_event_among_hundreds_of_diagnoses_fails_the_run_on_lost_events_alone() -> None:
    # One broken stream in 250 keeps the error rate under 0.5 %: only the events-lost row can fail this run.
    document = build(raw(tally(diagnoses=250, lost=1)))
    assert document["loss"]["events_lost"] == 1 and statuses(document)["error rate"] == "pass"
    assert document["verdict"]["reasons"] == [
        "events lost: fail (1 vs <= 0) - events missing from a stream (gaps in seq): push lost them"]


def test_a_run_with_each_kind_of_trouble_names_each_apart() -> None:
    # 1,000 judged: 2 events lost (2 broken streams), 1 never finished, 10 errors, 30 refused after 400 busy answers.
    document = build(raw(tally(diagnoses=999, lost=2, timed_out=1, errored=10, refused=30, refusals=400)))
    d, loss = document["diagnoses"], document["loss"]
    assert (loss["events_lost"], d["timed_out"], d["errored"], d["refused"]) == (2, 1, 10, 30)
    assert d["refusals"] == {"overloaded": 400, "too_many_diagnoses": 0}
    assert d["refused_ratio"] == pytest.approx(30 / 1030) and d["error_rate"] == pytest.approx(12 / 1000)
    failing = {t["name"] for t in document["thresholds"] if t["status"] == "fail"}
    assert failing == {"events lost", "never finished", "refused", "error rate"}
    reasons = " | ".join(document["verdict"]["reasons"])
    for words in ("push lost them", "took on more than it finished in time", "refusing as busy"):
        assert words in reasons
    text = summary.render(document)
    assert "400 start answers 503 overloaded" in text and "30 diagnoses still refused" in text
    assert "Never finished (accepted, no final event in time): 1" in text


def test_refusals_within_loadtest_max_refused_ratio_pass_and_retried_ones_cost_nothing() -> None:
    # 400 busy answers that were retried until accepted: no diagnosis refused, the run passes.
    document = build(raw(tally(diagnoses=1000, refusals=400)))
    assert statuses(document)["refused"] == "pass" and document["verdict"]["passed"]
    spec = load_spec(env={}, overrides={"loadtest.max_refused_ratio": 0.05})
    document = results.build(raw(tally(diagnoses=1000, refused=30)), [], spec, info())
    assert statuses(document)["refused"] == "pass" and document["verdict"]["passed"]


def test_loss_within_loadtest_max_loss_and_max_unfinished_passes() -> None:
    spec = load_spec(env={}, overrides={"loadtest.max_loss": 3, "loadtest.max_unfinished": 1})
    document = results.build(raw(tally(diagnoses=1000, lost=2, timed_out=1)), [], spec, info())
    assert statuses(document)["events lost"] == "pass" and statuses(document)["never finished"] == "pass"
    assert document["verdict"]["passed"]


def test_error_rate_just_under_the_limit_passes() -> None:
    document = build(raw(tally(diagnoses=1000, errored=4)))
    assert statuses(document)["error rate"] == "pass"


def test_a_saturated_generator_invalidates_latency_and_fails_the_run() -> None:
    document = build(raw(tally(), cpu=[95.0] * 5 + [50.0] * 5))
    s = statuses(document)
    assert s["progress delivery p95"] == "invalid" and s["diagnosis duration p95"] == "invalid"
    assert document["generator"]["saturated"] and "not valid" in document["generator"]["warning"]
    assert document["verdict"]["exit_code"] == 1


def test_a_busy_master_does_not_count_as_saturation_it_runs_no_users() -> None:
    document = build(raw(tally(), cpu=[99.0] * 10, role="master"))
    assert not document["generator"]["saturated"] and document["verdict"]["passed"]


def test_no_progress_at_all_is_no_data_and_fails() -> None:
    c = tally()
    c.latency["progress"] = type(c.latency["progress"])()
    assert statuses(build(raw(c)))["progress delivery p95"] == "no_data"


def test_fewer_sockets_than_users_fails_sockets_held() -> None:
    assert statuses(build(raw(tally()), users=30))["sockets held"] == "fail"


def test_a_partial_run_never_passes() -> None:
    document = build(raw(tally(), complete=False))
    assert not document["verdict"]["passed"] and "partial" in document["verdict"]["reasons"][-1]


def test_a_hit_ratio_under_the_cache_objective_fails_the_run_and_says_so() -> None:
    document = build(raw(tally(cached=10)))  # 10 of 50: 20 %
    row = [t for t in document["thresholds"] if t["name"] == "cache hit ratio"][0]
    assert row["status"] == "fail" and row["value"] == pytest.approx(0.2) and row["limit"] == 0.8
    assert row["source"] == "slo.cache_hit" and document["diagnoses"]["hit_ratio"] == pytest.approx(0.2)
    assert document["verdict"]["exit_code"] == 1
    assert any(reason.startswith("cache hit ratio: fail") for reason in document["verdict"]["reasons"])


def test_a_hit_ratio_at_the_objective_passes() -> None:
    assert statuses(build(raw(tally(cached=40))))["cache hit ratio"] == "pass"  # 40 of 50: 80 %
