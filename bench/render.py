"""What a person reads of a bench run: the table at the end and the Markdown section with charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from diagops.reports.charts import grouped_bars_svg


POLICY_NAMES = {"tinylfu": "W-TinyLFU", "lru": "LRU"}  # cache.policy, as a person reads it


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def cache_tables(doc: dict[str, Any]) -> list[Table]:
    run = doc["run"]
    ratios, counts = run["hit_ratio"], run["counts"]
    table = Table(title=f"diagops bench cache: {doc['workload']['distribution']} over "
                        f"{doc['workload']['distinct']} distinct requests, capacity {run['cache']['capacity']}, "
                        f"TTL {run['cache']['ttl_s']:g} s, policy {POLICY_NAMES[run['cache']['policy']]}")
    for column in ("figure", "value", "reference"):
        table.add_column(column)
    table.add_row("hit ratio (clients saw)", pct(ratios["client"]), f"objective ≥ {doc['objective']['min_hit_ratio']:.0%}")
    table.add_row("hit ratio (service counted)", pct(ratios["server"]), "agree" if counts["agree"] else "DISAGREE")
    table.add_row("Belady optimum, same capacity", pct(ratios["belady"]), f"share achieved {pct(run['share_of_optimum'])}")
    table.add_row("unbounded cache", pct(ratios["unbounded"]), f"{counts['distinct']} distinct of {counts['answered']}")
    policy = run["cache"]["policy"]
    for name in ("tinylfu", "lru"):
        table.add_row(f"{POLICY_NAMES[name]} simulated offline", pct(ratios[f"{name}_offline"]),
                      ("the service's policy" if name == policy else "the other policy") + ", results stored at once")
    for kind in ("hit", "miss"):
        s = run["latency"][kind]
        table.add_row(f"{kind} latency p50/p95/p99/max", f"{ms(s['p50_ms'])} / {ms(s['p95_ms'])} / {ms(s['p99_ms'])} / {ms(s['max_ms'])}",
                      f"{s['count']} requests")
    tables = [table]
    sweep = doc.get("sweep")
    if sweep:
        curve = Table(title=f"hit ratio against {sweep['parameter']}, the service running {POLICY_NAMES[run['cache']['policy']]}")
        for column in (sweep["parameter"], "service", "Belady", "LRU offline",
                       "W-TinyLFU offline", "unbounded", "share of optimum"):
            curve.add_column(column)
        for point in sweep["points"]:
            r = point["hit_ratio"]
            curve.add_row(f"{point['value']:g}", pct(r["client"]), pct(r["belady"]), pct(r["lru_offline"]),
                          pct(r["tinylfu_offline"]), pct(r["unbounded"]), pct(point["share_of_optimum"]))
        tables.append(curve)
    return tables


def verdict_line(doc: dict[str, Any]) -> str:
    v = doc["verdict"]
    return "PASSED" if v["passed"] else "FAILED: " + "; ".join(v["reasons"])


def cache_markdown(doc: dict[str, Any], out: Path) -> Path:
    """bench-cache.md with the miss-ratio chart (when swept) under `out`; returns the Markdown file."""
    run = doc["run"]
    r = run["hit_ratio"]
    lines = ["## Cache benchmark", "",
             f"Workload: {doc['workload']['distribution']}, {run['counts']['answered']} requests over "
             f"{run['counts']['distinct']} distinct, capacity {run['cache']['capacity']}, TTL {run['cache']['ttl_s']:g} s, "
             f"policy {POLICY_NAMES[run['cache']['policy']]}.", "",
             "| figure | value |", "|---|---|",
             f"| hit ratio, clients | {pct(r['client'])} |", f"| hit ratio, service counters | {pct(r['server'])} |",
             f"| Belady optimum | {pct(r['belady'])} |", f"| unbounded cache | {pct(r['unbounded'])} |",
             f"| W-TinyLFU / LRU simulated offline | {pct(r['tinylfu_offline'])} / {pct(r['lru_offline'])} |",
             f"| share of optimum | {pct(run['share_of_optimum'])} |",
             f"| hit p99 / miss p99 | {ms(run['latency']['hit']['p99_ms'])} / {ms(run['latency']['miss']['p99_ms'])} |",
             "", f"Verdict: {verdict_line(doc)}", ""]
    sweep = doc.get("sweep")
    if sweep:
        name = f"charts/bench-cache-{sweep['parameter']}.svg"
        categories = [f"{p['value']:g}" for p in sweep["points"]]
        svg = grouped_bars_svg(categories, {
            f"service ({POLICY_NAMES[run['cache']['policy']]})": [p["hit_ratio"]["client"] for p in sweep["points"]],
            "LRU offline": [p["hit_ratio"]["lru_offline"] for p in sweep["points"]],
            "W-TinyLFU offline": [p["hit_ratio"]["tinylfu_offline"] for p in sweep["points"]],
            "Belady": [p["hit_ratio"]["belady"] for p in sweep["points"]],
            "unbounded": [p["hit_ratio"]["unbounded"] for p in sweep["points"]]},
            f"hit ratio against {sweep['parameter']}", sweep["parameter"])
        _write(out / name, svg)
        lines += [f"![hit ratio against {sweep['parameter']}]({name})", ""]
    return _write(out / "bench-cache.md", "\n".join(lines))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def latency_tables(doc: dict[str, Any]) -> list[Table]:
    table = Table(title=f"diagops bench latency: {doc['workload']['diagnoses']} diagnoses, staleness of each update")
    table.add_column("client", no_wrap=True)
    for column in ("p50", "p95", "p99", "max", "requests", "events", "× socket p50/p95"):
        table.add_column(column, no_wrap=column != "× socket p50/p95")
    for row in doc["modes"]:
        s, imp = row["staleness"], row["improvement"]
        factor = "—" if imp is None else f"{_times(imp['p50'])} / {_times(imp['p95'])}"
        table.add_row(row["name"], ms(s["p50_ms"]), ms(s["p95_ms"]), ms(s["p99_ms"]), ms(s["max_ms"]),
                      str(row["requests"]), str(row["events"]), factor)
    return [table]


def _times(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}×"


def latency_markdown(doc: dict[str, Any], out: Path) -> Path:
    rows = doc["modes"]
    name = "charts/bench-latency.svg"
    _write(out / name, grouped_bars_svg(
        [r["name"] for r in rows],
        {"p50": [_s(r["staleness"]["p50_ms"]) for r in rows], "p95": [_s(r["staleness"]["p95_ms"]) for r in rows]},
        "staleness of an update: socket against polling", "seconds"))
    lines = ["## Update latency: WebSocket against polling", "",
             "| client | p50 | p95 | max | requests | improvement (p50) |", "|---|---|---|---|---|---|"]
    for r in rows:
        imp = r["improvement"]
        lines.append(f"| {r['name']} | {ms(r['staleness']['p50_ms'])} | {ms(r['staleness']['p95_ms'])} | "
                     f"{ms(r['staleness']['max_ms'])} | {r['requests']} | {'—' if imp is None else _times(imp['p50'])} |")
    lines += ["", f"![staleness by client]({name})", "", f"Verdict: {verdict_line(doc)}", ""]
    return _write(out / "bench-latency.md", "\n".join(lines))


def _s(value_ms: float | None) -> float | None:
    return None if value_ms is None else value_ms / 1000.0


def push_tables(doc: dict[str, Any]) -> list[Table]:
    table = Table(title=f"diagops bench push: {doc['workload']['watchers_per_diagnosis']} watcher(s) per diagnosis, "
                        f"capacity {doc['capacity']['sockets'] or 'none'}")
    for column in ("sockets", "events/s", "p50", "p99", "errors", "CPU µs/event", "RSS", "held"):
        table.add_column(column, no_wrap=True)
    limits = Table(title="what limited each step")
    limits.add_column("sockets", no_wrap=True)
    limits.add_column("limited by")
    limits.add_column("broken by")
    for r in doc["steps"]:
        table.add_row(f"{r['sockets']:,}", f"{r['events_per_s']:,.0f}", ms(r["delivery_p50_ms"]), ms(r["delivery_p99_ms"]),
                      str(r["errors"]), "—" if r["server_cpu_us_per_event"] is None else f"{r['server_cpu_us_per_event']:.0f}",
                      f"{r['server_rss_mib']:.0f} MiB", "yes" if r["held"] else "no")
        limits.add_row(f"{r['sockets']:,}", r["limited_by"], "; ".join(r["broken"]) or "—")
    return [table, limits]


def push_markdown(doc: dict[str, Any], out: Path) -> Path:
    steps = doc["steps"]
    name = "charts/bench-push.svg"
    _write(out / name, grouped_bars_svg([f"{r['sockets']:,}" for r in steps],
                                        {"events/s delivered": [r["events_per_s"] for r in steps]},
                                        "fan-out: events delivered per second by sockets", "sockets"))
    lines = ["## Fan-out capacity", "", "| sockets | events/s | p50 | p99 | errors | limited by | held |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['sockets']:,} | {r['events_per_s']:,.0f} | {ms(r['delivery_p50_ms'])} | {ms(r['delivery_p99_ms'])} | "
              f"{r['errors']} | {r['limited_by']} | {'yes' if r['held'] else 'no'} |" for r in steps]
    lines += ["", f"Measured capacity: {doc['capacity']['sockets'] or 'none'} sockets. {doc['capacity']['note']}", "",
              f"![events per second by sockets]({name})", "", f"Verdict: {verdict_line(doc)}", ""]
    return _write(out / "bench-push.md", "\n".join(lines))
