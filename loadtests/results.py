"""From a run's raw tally to the results document: figures, thresholds, verdict.

The thresholds are the SLOs of `diagops.yaml` (`slo.delivery_latency`,
`slo.diagnosis_duration`, `slo.error_rate`) plus the load test's own, one per way a
diagnosis can go wrong, so a verdict says which happened: events lost from a stream
(`loadtest.max_loss`), accepted diagnoses that never finished (`loadtest.max_unfinished`),
diagnoses refused as busy (`loadtest.max_refused_ratio`), errors (`slo.error_rate`), and
every requested user holding a socket. The document's
shape is `results.schema.json` (versioned: readers check `schema_version`).

The generator must not lie: when a generator process was CPU-saturated, the
latencies it measured include its own queueing and its offered load fell short,
so the latency thresholds are marked `invalid` and the run does not pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diagops.loadtests import outputs
from diagops.loadtests.collector import LATENCY_KINDS, Collector
from diagops.loadtests.histogram import Histogram
from diagops.spec import Spec

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name("results.schema.json")
USER_ROLES = ("local", "worker")  # processes that run users (a master only coordinates)


@dataclass(frozen=True)
class RunInfo:
    """How the run was set up, as the CLI knows it (the raw tally knows what happened)."""

    host: str
    embedded: bool
    engine_speed: float | None
    users: int
    spawn_rate: float
    duration_s: float
    workers: int
    out: Path
    started_at: str
    finished_at: str
    generator_exit: int | None
    generator_timed_out: bool
    interrupted: bool = False  # stopped by Ctrl-C: the figures are what it had by then


def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def read_timeseries(path: Path) -> list[dict[str, Any]]:
    """The sampler's lines; a torn last line (the run was killed mid-write) is dropped."""
    rows: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return rows
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def build(raw: dict[str, Any], timeseries: list[dict[str, Any]], spec: Spec, run: RunInfo) -> dict[str, Any]:
    """The results document (schema version 1)."""
    tally = Collector.from_dict(raw["collector"])
    counts = tally.counts
    generator = _generator(raw, spec)
    diagnoses = _diagnoses(counts)
    loss = {
        "events_lost": counts["events_lost"],
        "gaps": counts["gaps"],
        "duplicates": counts["duplicates"],
        "diagnoses_without_final": counts["diagnoses_timed_out"],
        "total": counts["events_lost"] + counts["diagnoses_timed_out"],  # kept for schema-1 readers; judged apart
    }
    peak = int(raw.get("peak_open_sockets") or 0)
    thresholds = _thresholds(tally, diagnoses, loss, peak, spec, run, generator)
    verdict = _verdict(thresholds, generator, raw, run)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "diagops.loadtest.results",
        "run": {
            "host": run.host,
            "embedded": run.embedded,
            "engine_speed": run.engine_speed,
            "users": run.users,
            "spawn_rate": run.spawn_rate,
            "duration_s": run.duration_s,
            "workers": run.workers,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "complete": bool(raw.get("complete")) and not run.generator_timed_out and not run.interrupted,
            "interrupted": run.interrupted,
            "scenario": raw.get("options", {}),
        },
        "diagnoses": diagnoses,
        "messages": {
            "received": counts["events_received"],
            "live": counts["events_live"],
            "replayed": counts["events_replayed"],
        },
        "latency": {kind: _seconds(tally.latency[kind]) for kind in LATENCY_KINDS},
        "loss": loss,
        "connections": {
            "peak_open": peak,
            "connects": counts["connects"],
            "connect_failures": counts["connect_failures"],
            "reconnects": counts["reconnects"],
            "resubscribes": counts["resubscribes"],
            "disconnects": dict(sorted(tally.disconnects.items())),
            "server_pings_answered": counts["server_pings"],
            "pings_sent": counts["pings_sent"],
            "pongs": counts["pongs"],
        },
        "error_rate": diagnoses["error_rate"],
        "failures": dict(sorted(tally.failures.items(), key=lambda kv: -kv[1])),
        "generator": generator,
        "thresholds": thresholds,
        "verdict": verdict,
        "timeseries": [_point(row) for row in timeseries],
        "locust": raw.get("locust", {}),
        "files": {
            "results": outputs.RESULTS,
            "summary": outputs.SUMMARY,
            "timeseries": outputs.TIMESERIES,
            "locust_csv_prefix": outputs.LOCUST_CSV_PREFIX,
            "locust_html": outputs.LOCUST_HTML,
            "locust_log": outputs.LOCUST_LOG,
        },
    }


def _seconds(hist: Histogram) -> dict[str, Any]:
    return hist.summary()


def _diagnoses(counts: dict[str, int]) -> dict[str, Any]:
    # Errors are what went wrong once a start was answered: never-finished and refused have thresholds of their own.
    failed = counts["diagnoses_errored"] + counts["diagnoses_start_failed"] + counts["diagnoses_broken"]
    judged = counts["diagnoses_started"] + counts["diagnoses_start_failed"] - counts["diagnoses_interrupted"]
    refused = counts["diagnoses_refused"]
    asked = judged + refused
    return {
        "started": counts["diagnoses_started"],
        "completed": counts["diagnoses_completed"],
        "errored": counts["diagnoses_errored"],
        "timed_out": counts["diagnoses_timed_out"],
        "start_failed": counts["diagnoses_start_failed"],
        "broken_stream": counts["diagnoses_broken"],
        "interrupted": counts["diagnoses_interrupted"],
        "cached": counts["diagnoses_cached"],
        # What the cache objective judges: of the diagnoses the service accepted, the share its cache answered.
        "hit_ratio": (counts["diagnoses_cached"] / counts["diagnoses_started"]) if counts["diagnoses_started"] else None,
        "judged": judged,
        "failed": failed,
        "error_rate": (failed / judged) if judged > 0 else None,
        "refused": refused,
        "refused_ratio": (refused / asked) if asked > 0 else None,
        "refusals": {"overloaded": counts["start_refused_overloaded"],
                     "too_many_diagnoses": counts["start_refused_too_many_diagnoses"]},
    }


def _generator(raw: dict[str, Any], spec: Spec) -> dict[str, Any]:
    """Per-process CPU and dispatch lag, and whether any user-running process was saturated."""
    limit = spec.loadtest.generator_cpu_limit
    share_limit = spec.loadtest.generator_saturated_share
    processes = []
    saturated_by: list[str] = []
    for index, proc in enumerate(raw.get("processes", [])):
        samples = [float(s) for s in proc.get("cpu_samples", [])]
        hot = sum(1 for s in samples if s >= limit)
        share = hot / len(samples) if samples else 0.0
        lag = Histogram.from_dict(proc.get("lag", {}))
        name = proc["role"] if proc["role"] != "worker" else f"worker-{index}"
        runs_users = proc["role"] in USER_ROLES
        if runs_users and share >= share_limit:
            saturated_by.append(f"{name} at >= {limit:g} % CPU in {share:.0%} of samples")
        processes.append({
            "name": name,
            "role": proc["role"],
            "pid": proc.get("pid"),
            "host": proc.get("host"),
            "runs_users": runs_users,
            "cpu_percent": {
                "samples": len(samples),
                "mean": (sum(samples) / len(samples)) if samples else None,
                "max": max(samples) if samples else None,
                "share_at_limit": share,
            },
            "loop_lag_s": {"p50": lag.percentile(0.5), "p99": lag.percentile(0.99), "max": lag.maximum if lag.count else None},
        })
    locust_warned = bool(raw.get("locust", {}).get("cpu_warning"))
    saturated = bool(saturated_by)
    warning = None
    if saturated:
        warning = ("generator saturated (" + "; ".join(saturated_by) + "): its latency figures include its own "
                   "queueing and are not valid; rerun with --workers N or generators on more machines")
    elif locust_warned:
        warning = "Locust saw a CPU spike above 90 % in a generator process (short of saturation by our rule)"
    return {
        "cpu_limit_percent": limit,
        "saturated_share_limit": share_limit,
        "saturated": saturated,
        "locust_cpu_warning": locust_warned,
        "warning": warning,
        "processes": processes,
    }


def _threshold(name: str, source: str, metric: str, op: str, limit: float, value: float | None,
               note: str | None = None) -> dict[str, Any]:
    if value is None:
        status = "no_data"
    elif op == "<=":
        status = "pass" if value <= limit else "fail"
    else:
        status = "pass" if value >= limit else "fail"
    return {"name": name, "source": source, "metric": metric, "op": op, "limit": limit, "value": value,
            "status": status, "note": note}


def _thresholds(tally: Collector, diagnoses: dict[str, Any], loss: dict[str, Any], peak: int, spec: Spec,
                run: RunInfo, generator: dict[str, Any]) -> list[dict[str, Any]]:
    slo = spec.slo
    latency = slo.delivery_latency
    duration = slo.diagnosis_duration
    pct = f"p{latency.target * 100:g}"
    dpct = f"p{duration.target * 100:g}"
    rows = [
        _threshold(f"progress delivery {pct}", "slo.delivery_latency", f"latency.progress.{pct}", "<=",
                   latency.threshold_s, tally.latency["progress"].percentile(latency.target),
                   "receive time minus the event's server timestamp (ms precision), live pushes only"),
        _threshold(f"diagnosis duration {dpct}", "slo.diagnosis_duration", f"latency.diagnosis.{dpct}", "<=",
                   duration.threshold_s, tally.latency["diagnosis"].percentile(duration.target),
                   "start request to final event, as a user waits for it"),
        _threshold("error rate", "slo.error_rate", "error_rate", "<=", slo.error_rate.max_ratio,
                   diagnoses["error_rate"], "diagnoses ending in an error event or a broken stream, or whose start "
                   "failed / diagnoses judged"),
        _threshold("events lost", "loadtest.max_loss", "loss.events_lost", "<=", float(spec.loadtest.max_loss),
                   float(loss["events_lost"]), "events missing from a stream (gaps in seq): push lost them"),
        _threshold("never finished", "loadtest.max_unfinished", "diagnoses.timed_out", "<=",
                   float(spec.loadtest.max_unfinished), float(diagnoses["timed_out"]),
                   f"accepted (202) but no final event within {spec.loadtest.final_timeout_s:g} s: the service took "
                   "on more than it finished in time"),
        _threshold("refused", "loadtest.max_refused_ratio", "diagnoses.refused_ratio", "<=",
                   spec.loadtest.max_refused_ratio, diagnoses["refused_ratio"],
                   "diagnoses the service kept refusing as busy (overloaded / too_many_diagnoses) until the final "
                   "timeout, though retried after Retry-After / diagnoses asked for: admission control at work"),
        _threshold("cache hit ratio", "slo.cache_hit", "diagnoses.hit_ratio", ">=", slo.cache_hit.min_hit_ratio,
                   diagnoses["hit_ratio"], "diagnoses answered from the cache / diagnoses started; the traffic's "
                   "brands follow loadtest.brands"),
        _threshold("sockets held", "loadtest.users", "connections.peak_open", ">=", float(run.users), float(peak),
                   "every requested user held its socket at once"),
    ]
    if generator["saturated"]:
        for row in rows[:2]:
            row["status"] = "invalid"
            row["note"] = "generator saturated: " + (row["note"] or "")
    required = slo.capacity.required_connections
    if run.users < required:
        rows[-1]["note"] += f" (this run's {run.users} users are below slo.capacity's {required}: no capacity claim)"
    return rows


def _verdict(thresholds: list[dict[str, Any]], generator: dict[str, Any], raw: dict[str, Any],
             run: RunInfo) -> dict[str, Any]:
    reasons = [
        f"{t['name']}: {t['status']} ({_show(t['value'])} vs {t['op']} {_show(t['limit'])})"
        + (f" - {t['note']}" if t["status"] == "fail" and t["name"] in EXPLAINED else "")
        for t in thresholds if t["status"] != "pass"
    ]
    if generator["saturated"]:
        reasons.append(generator["warning"])
    if run.interrupted:
        reasons.append("interrupted (Ctrl-C) before the end of the run: figures are partial")
    elif run.generator_timed_out:
        reasons.append("the generator overran its time bound and was stopped: figures are partial")
    elif not raw.get("complete"):
        missing = raw.get("workers_missing", 0)
        reasons.append(f"the run did not end cleanly ({missing} worker(s) never reported): figures are partial")
    passed = not reasons
    return {"passed": passed, "exit_code": 0 if passed else 1, "reasons": reasons}


EXPLAINED = ("events lost", "never finished", "refused")  # names alike enough to need their note in the verdict


def _show(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"


def _point(row: dict[str, Any]) -> dict[str, Any]:
    progress = row.get("progress", {})
    cpu = row.get("cpu", {})
    return {
        "t": row.get("t"),
        "phase": row.get("phase"),
        "users": row.get("users"),
        "open_sockets": row.get("open_sockets"),
        "events_per_s": row.get("events_per_s"),
        "progress_p50": progress.get("p50"),
        "progress_p95": progress.get("p95"),
        "progress_p99": progress.get("p99"),
        "failures": row.get("failures"),
        "cpu_max": max(cpu.values()) if cpu else None,
        "dispatch_lag_p99": row.get("lag_p99"),
    }
