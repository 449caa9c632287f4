"""The Markdown summary of a run: verdict, thresholds, latency table, charts over time.

Charts are Mermaid `xychart-beta` blocks (rendered by GitHub and most Markdown
viewers) with a Unicode sparkline line under each for plain-text readers, so no
plotting library is needed.
"""

from __future__ import annotations

from typing import Any

from diagops.loadtests import outputs
from diagops.loadtests.collector import LATENCY_KINDS

MAX_POINTS = 60
SPARKS = "▁▂▃▄▅▆▇█"


def render(results: dict[str, Any]) -> str:
    run = results["run"]
    verdict = results["verdict"]
    lines = [
        f"# Load test: {'PASS' if verdict['passed'] else 'FAIL'}",
        "",
        f"{run['users']} users (spawn rate {run['spawn_rate']:g}/s) for {run['duration_s']:g} s against "
        f"{run['host']}{' (embedded service, engine speed ' + format(run['engine_speed'], 'g') + ')' if run['embedded'] and run['engine_speed'] else ''}"
        f", {run['workers'] or 'no'} worker process(es); {run['started_at']} to {run['finished_at']}.",
        "",
    ]
    if verdict["reasons"]:
        lines += ["Why it failed:", ""] + [f"- {reason}" for reason in verdict["reasons"]] + [""]
    if results["generator"]["warning"]:
        lines += [f"> **Warning:** {results['generator']['warning']}", ""]
    lines += _thresholds(results["thresholds"])
    lines += _latency(results["latency"])
    lines += _delivery(results)
    lines += _generator(results["generator"])
    lines += _charts(results["timeseries"])
    lines += [
        "## Files",
        "",
        f"`{outputs.RESULTS}` (schema: loadtests/results.schema.json), `{outputs.TIMESERIES}`, Locust's "
        + ", ".join(f"`{name}`" for name in (*outputs.LOCUST_CSVS, outputs.LOCUST_HTML, outputs.LOCUST_LOG)) + ".",
        "",
    ]
    return "\n".join(lines)


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    millis = value * 1000.0
    return f"{millis:.2f}" if millis < 10 else f"{millis:.1f}" if millis < 100 else f"{millis:.0f}"


def duration_text(seconds: float) -> str:
    """A latency in the unit that reads best: ms below a second, s above."""
    return f"{ms(seconds)} ms" if seconds < 1.0 else f"{seconds:.3g} s"


def limit_text(row: dict[str, Any]) -> str:
    if row["metric"].startswith("latency."):
        return f"{row['op']} {duration_text(row['limit'])}"
    if row["metric"] == "error_rate":
        return f"{row['op']} {row['limit'] * 100:g} %"
    return f"{row['op']} {row['limit']:g}"


def value_text(row: dict[str, Any]) -> str:
    value = row["value"]
    if value is None:
        return "no data"
    if row["metric"].startswith("latency."):
        return duration_text(value)
    if row["metric"] == "error_rate":
        return f"{value * 100:.2f} %"
    return f"{value:g}"


def _thresholds(rows: list[dict[str, Any]]) -> list[str]:
    out = ["## Thresholds (diagops.yaml)", "", "| threshold | limit | measured | status | from |", "|---|---|---|---|---|"]
    for row in rows:
        out.append(f"| {row['name']} | {limit_text(row)} | {value_text(row)} | **{row['status']}** | `{row['source']}` |")
    return out + [""]


def _latency(latency: dict[str, dict[str, Any]]) -> list[str]:
    out = ["## Latency by message kind (ms)", "", "| kind | count | p50 | p95 | p99 | max |", "|---|---:|---:|---:|---:|---:|"]
    for kind in LATENCY_KINDS:
        row = latency[kind]
        out.append(f"| {kind} | {row['count']} | {ms(row['p50'])} | {ms(row['p95'])} | {ms(row['p99'])} | {ms(row['max'])} |")
    return out + ["", "progress/complete/error: live delivery latency; replay: events stored before the subscription; "
                  "connect: handshake; diagnosis: start to final event; ping: application round trip.", ""]


def _delivery(results: dict[str, Any]) -> list[str]:
    d, loss, conn = results["diagnoses"], results["loss"], results["connections"]
    rate = "–" if d["error_rate"] is None else f"{d['error_rate'] * 100:.2f} %"
    disconnects = ", ".join(f"{k} {v}" for k, v in conn["disconnects"].items()) or "none"
    failures = ", ".join(f"{k} ({v})" for k, v in results["failures"].items()) or "none"
    return [
        "## Diagnoses, loss, connections",
        "",
        f"- Diagnoses: {d['started']} started, {d['completed']} complete, {d['errored']} error, "
        f"{d['timed_out']} without final event, {d['start_failed']} failed to start, {d['broken_stream']} broken stream, "
        f"{d['interrupted']} interrupted by the end of the run, {d['cached']} from cache. Error rate {rate}.",
        f"- Refused as busy: {d['refusals']['overloaded']} start answers 503 overloaded and "
        f"{d['refusals']['too_many_diagnoses']} 429 too_many_diagnoses, each retried after Retry-After plus jitter; "
        f"{d['refused']} diagnoses still refused at the final timeout.",
        f"- Messages: {results['messages']['received']} received ({results['messages']['live']} live, "
        f"{results['messages']['replayed']} replayed).",
        f"- Events lost: {loss['events_lost']} in {loss['gaps']} gaps, {loss['duplicates']} duplicates. "
        f"Never finished (accepted, no final event in time): {d['timed_out']}.",
        f"- Sockets: peak {conn['peak_open']} open, {conn['connects']} connects, {conn['reconnects']} reconnects ({conn['resubscribes']} resumed from last_seq), "
        f"{conn['connect_failures']} failed connects; disconnects: {disconnects}.",
        f"- Failures by reason: {failures}.",
        "",
    ]


def _generator(gen: dict[str, Any]) -> list[str]:
    out = ["## Generator", "", "| process | runs users | CPU mean % | CPU max % | share at limit | dispatch lag p99 (ms) |",
           "|---|---|---:|---:|---:|---:|"]
    for p in gen["processes"]:
        cpu = p["cpu_percent"]
        mean = "–" if cpu["mean"] is None else f"{cpu['mean']:.0f}"
        peak = "–" if cpu["max"] is None else f"{cpu['max']:.0f}"
        out.append(f"| {p['name']} (pid {p['pid']}) | {'yes' if p['runs_users'] else 'no'} | {mean} | {peak} | "
                   f"{cpu['share_at_limit']:.0%} | {ms(p['loop_lag_s']['p99'])} |")
    verdict = "saturated: latency figures are not valid" if gen["saturated"] else "not saturated"
    out += ["", f"Rule: a user-running process at >= {gen['cpu_limit_percent']:g} % CPU in >= "
            f"{gen['saturated_share_limit']:.0%} of its 1-s samples is saturated. This run: {verdict}.", ""]
    return out


def _charts(points: list[dict[str, Any]]) -> list[str]:
    running = [p for p in points if p.get("phase") in ("running", "stopping", None)]
    if not running:
        return ["## Over time", "", "(no samples)", ""]
    sampled = _downsample(running)
    xs = [f"{p['t']:.0f}" for p in sampled]
    p50 = [_ms_or_none(p["progress_p50"]) for p in sampled]
    p95 = [_ms_or_none(p["progress_p95"]) for p in sampled]
    p99 = [_ms_or_none(p["progress_p99"]) for p in sampled]
    users = [float(p["users"] or 0) for p in sampled]
    sockets = [float(p["open_sockets"] or 0) for p in sampled]
    top = max([v for v in p99 if v is not None] or [1.0])
    return [
        "## Over time",
        "",
        "Progress delivery latency per second, ms (lines: p50, p95, p99; 0 where nothing was delivered):",
        "",
        "```mermaid",
        "xychart-beta",
        '    title "Progress delivery latency (ms)"',
        f'    x-axis "seconds" [{", ".join(xs)}]',
        f'    y-axis "ms" 0 --> {top * 1.1:.2f}',
        f"    line [{_series(p50)}]",
        f"    line [{_series(p95)}]",
        f"    line [{_series(p99)}]",
        "```",
        "",
        f"    p50 {_spark(p50, top)}",
        f"    p95 {_spark(p95, top)}",
        f"    p99 {_spark(p99, top)}  (one scale, top {top:.2f} ms)",
        "",
        "Users and open sockets:",
        "",
        "```mermaid",
        "xychart-beta",
        '    title "Users (bars) and open sockets (line)"',
        f'    x-axis "seconds" [{", ".join(xs)}]',
        f'    y-axis "count" 0 --> {max(users + sockets + [1.0]) * 1.1:.0f}',
        f"    bar [{_series(users)}]",
        f"    line [{_series(sockets)}]",
        "```",
        "",
        f"    users   {_spark(users)}  (max {max(users):.0f})",
        f"    sockets {_spark(sockets)}  (max {max(sockets):.0f})",
        "",
    ]


def _downsample(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most MAX_POINTS points; each keeps the worst latency and the last counts of its span."""
    if len(points) <= MAX_POINTS:
        return points
    step = -(-len(points) // MAX_POINTS)
    merged = []
    for start in range(0, len(points), step):
        span = points[start:start + step]
        last = dict(span[-1])
        for key in ("progress_p50", "progress_p95", "progress_p99"):
            values = [p[key] for p in span if p[key] is not None]
            last[key] = max(values) if values else None
        merged.append(last)
    return merged


def _ms_or_none(value: float | None) -> float | None:
    return None if value is None else value * 1000.0


def _series(values: list[float | None]) -> str:
    return ", ".join(f"{(v or 0.0):.2f}" for v in values)


def _spark(values: list[float | None], top: float | None = None) -> str:
    """One character a point, scaled to `top` (shared by series drawn together); blank = no data."""
    present = [v for v in values if v is not None]
    if not present:
        return "(no data)"
    top = top or max(present) or 1.0
    return "".join(" " if v is None else SPARKS[min(len(SPARKS) - 1, int(v / top * (len(SPARKS) - 1) + 0.5))]
                   for v in values)
