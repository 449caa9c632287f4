"""Performance acceptance: the plan's figures, measured by the gate itself against the target.

One run serves three checks: `slo.capacity.required_connections` sockets are opened and held at
once, each watching a diagnosis of its own (the product's case: one watcher per diagnosis), and
every live frame's delivery latency is its receive time minus its `timestamp`. Figures from
`diagops loadtest` and `diagops bench` files are checked when given.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from diagops.checks.context import GateContext
from diagops.checks.metrics_text import parse_exposition
from diagops.checks.model import Outcome, failed, passed, warned
from diagops.checks.registry import check
from diagops.checks.wire import Stream, WireError, follow, percentile, strict_loads, stream_problems
from diagops.push.protocol import dumps

PERF_RUN = "performance_run"


async def _one_watcher(ctx: GateContext, index: int, opened: asyncio.Event, ready: list[int], total: int,
                       deadline: float) -> tuple[Stream | None, str | None]:
    """One mini-program user: a socket held for the whole run, one diagnosis watched to its end."""
    name = f"load-{index}"
    try:
        ws = await ctx.connect(ctx.token(name))
    except Exception as exc:  # noqa: BLE001 (any failure to connect is this user's error, reported)
        return None, f"connect: {type(exc).__name__}: {exc}"
    try:
        ready.append(index)
        if len(ready) == total:
            opened.set()
        await asyncio.wait_for(opened.wait(), timeout=max(0.1, deadline - time.monotonic()))
        started = await ctx.start_diagnosis(name, brand=ctx.brand(f"load {index}"))
        eid = started["execution_id"]
        stream = Stream(eid)
        await ws.send_str(dumps({"type": "subscribe", "execution_id": eid}))
        await follow(ws, {eid: stream}, deadline)
        return stream, None
    except (WireError, asyncio.TimeoutError, OSError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        await ws.close()


async def performance_run(ctx: GateContext) -> dict[str, Any]:
    """Run once per gate, shared by the checks that read its figures."""
    if PERF_RUN in ctx.memo:
        return ctx.memo[PERF_RUN]
    total = ctx.spec.slo.capacity.required_connections
    opened, ready = asyncio.Event(), []
    began = time.monotonic()
    deadline = began + ctx.spec.verify.final_timeout_s + 10
    results = await asyncio.gather(*(_one_watcher(ctx, i, opened, ready, total, deadline) for i in range(total)))
    streams = [s for s, _ in results if s is not None]
    errors = [e for _, e in results if e is not None]
    broken = [s.execution_id for s in streams if stream_problems(s) or (s.final or {}).get("event") != "complete"]
    latencies = [lat for s in streams for lat in s.latencies_s]
    run = {
        "sockets": total,
        "held_at_once": len(ready),
        "all_open_at_once": opened.is_set(),
        "diagnoses": total,
        "failed_diagnoses": len(errors) + len(broken),
        "errors": errors[:10],
        "broken_streams": broken[:10],
        "live_frames": len(latencies),
        "latency_s": {q: percentile(latencies, v) for q, v in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))},
        "latencies_s": latencies,
        "seconds": round(time.monotonic() - began, 2),
    }
    ctx.memo[PERF_RUN] = run
    return run


def _public(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k != "latencies_s"}


@check(id="perf.concurrent_sockets", title_en="Concurrent sockets held", title_zh="并发连接数",
       category="performance", required=True)
async def concurrent_sockets(ctx: GateContext) -> Outcome:
    run = await performance_run(ctx)
    need = ctx.spec.slo.capacity.required_connections
    outcome = (passed if run["all_open_at_once"] else failed)(
        f"{run['held_at_once']} of {need} sockets open at once" + ("" if run["all_open_at_once"] else f": {run['errors'][:2]}"),
        **_public(run))
    outcome.measured = f"{run['held_at_once']}"
    return outcome


@check(id="push.latency_p95", title_en="Progress delivery latency p95", title_zh="进度推送延迟 p95",
       category="performance", required=True)
async def latency_p95(ctx: GateContext) -> Outcome:
    run = await performance_run(ctx)
    objective = ctx.spec.slo.delivery_latency.threshold_s
    p95 = run["latency_s"]["p95"]
    if p95 is None:
        return failed("no live frame was received, so there is no latency to judge", **_public(run))
    outcome = (passed if p95 <= objective else failed)(
        f"p95 {p95 * 1000:.1f} ms over {run['live_frames']} live frames (objective ≤ {objective:g} s)", **_public(run))
    outcome.measured = f"p95 {p95 * 1000:.1f} ms"
    outcome.evidence["histogram"] = _histogram(run["latencies_s"])
    return outcome


@check(id="diagnoses.error_rate", title_en="Diagnosis error rate", title_zh="诊断错误率",
       category="performance", required=True)
async def error_rate(ctx: GateContext) -> Outcome:
    run = await performance_run(ctx)
    limit = ctx.spec.slo.error_rate.max_ratio
    rate = run["failed_diagnoses"] / max(run["diagnoses"], 1)
    outcome = (passed if rate <= limit else failed)(
        f"{run['failed_diagnoses']} of {run['diagnoses']} diagnoses did not end in an intact complete "
        f"({rate:.2%}; objective ≤ {limit:.2%})", **_public(run))
    outcome.measured = f"{rate:.2%}"
    return outcome


def _histogram(latencies: list[float]) -> list[dict[str, float | None]]:
    """Counts per latency bucket (ms), for the report's chart."""
    bounds: list[float | None] = [1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 2500, None]  # None: above the last
    counts = [0] * len(bounds)
    for value in latencies:
        ms = value * 1000
        counts[next(i for i, b in enumerate(bounds) if b is None or ms <= b)] += 1
    return [{"le_ms": b, "count": c} for b, c in zip(bounds, counts)]


@check(id="cache.hit_ratio", title_en="Cache hit ratio", title_zh="缓存命中率", category="performance", required=True)
async def cache_hit_ratio(ctx: GateContext) -> Outcome:
    keys, repeats = ctx.spec.verify.cache_keys, ctx.spec.verify.cache_repeats
    before = await _cache_counters(ctx)
    hits = misses = 0
    for k in range(keys):
        body = {"brand": ctx.brand(f"hit {k}")}
        first = await ctx.start_diagnosis(**body)
        await ctx.wait_final(first["execution_id"])
        hits, misses = hits + bool(first.get("cached")), misses + (not first.get("cached"))
        for _ in range(repeats):
            again = await ctx.start_diagnosis("bob", **body)
            hits, misses = hits + bool(again.get("cached")), misses + (not again.get("cached"))
    after = await _cache_counters(ctx)
    ratio = hits / (hits + misses)
    server = None
    if before is not None and after is not None:
        dh, dm = after[0] - before[0], after[1] - before[1]
        server = dh / (dh + dm) if dh + dm else None
    objective = ctx.spec.slo.cache_hit.min_hit_ratio
    evidence = {"requests": hits + misses, "hits": hits, "distinct": keys, "client_hit_ratio": round(ratio, 4),
                "server_hit_ratio": None if server is None else round(server, 4),
                "best_possible": round(repeats / (repeats + 1), 4)}
    if ratio < objective:
        outcome = failed(f"hit ratio {ratio:.1%} (objective ≥ {objective:.0%}; {repeats}/{repeats + 1} possible)", **evidence)
    elif server is None or abs(server - ratio) > 1e-9:
        outcome = warned(f"hit ratio {ratio:.1%} seen by the client, but the server's counters say "
                         f"{'nothing' if server is None else f'{server:.1%}'} (other traffic on the target?)", **evidence)
    else:
        outcome = passed(f"hit ratio {ratio:.1%} (objective ≥ {objective:.0%}), client and server counters agree", **evidence)
    outcome.measured = f"{ratio:.1%}"
    return outcome


async def _cache_counters(ctx: GateContext) -> tuple[float, float] | None:
    answer = await ctx.http("GET", "/metrics")
    if answer.status != 200 or not isinstance(answer.body, str):
        return None
    try:
        exposed = parse_exposition(answer.body)
    except ValueError:
        return None
    name = "diagops_cache_requests_total"
    return exposed.value(name, result="hit"), exposed.value(name, result="miss")


def _results_file(path: Path, tool: str, is_kind: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | Outcome:
    """The document of another diagops tool, or the failure that says why it cannot be used."""
    try:
        doc = strict_loads(path.read_bytes())
    except (OSError, WireError) as exc:
        return failed(f"{path}: cannot read it as {tool} results: {exc}")
    if not isinstance(doc, dict) or not is_kind(doc):
        kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
        return failed(f"{path} is not a diagops {tool} results file (kind {kind!r})")
    return doc


def _age_s(stamp: Any) -> float | None:
    try:
        moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - moment).total_seconds()


@check(id="loadtest.results", title_en="Load-test results (diagops loadtest)", title_zh="压测结果",
       category="performance", required=False, needs="loadtest")
async def loadtest_results(ctx: GateContext) -> Outcome:
    path = ctx.inputs.loadtest
    assert path is not None
    doc = _results_file(path, "load-test", lambda d: d.get("kind") == "diagops.loadtest.results"
                        and d.get("schema_version") == 1)
    if isinstance(doc, Outcome):
        return doc
    thresholds = {t.get("name"): t for t in doc.get("thresholds", []) if isinstance(t, dict)}
    failing = [n for n, t in thresholds.items() if t.get("status") != "pass"]
    users = (doc.get("run") or {}).get("users", 0)
    evidence = {"file": str(path), "verdict": doc.get("verdict"), "thresholds": list(thresholds.values()), "users": users}
    if failing or not (doc.get("verdict") or {}).get("passed"):
        return failed(f"the load test failed: {', '.join(failing) or 'verdict not passed'}", **evidence)
    need = ctx.spec.slo.capacity.required_connections
    if users < need:
        return failed(f"the load test ran {users} users, the objective is {need}", **evidence)
    latency_name = f"progress delivery p{ctx.spec.slo.delivery_latency.target * 100:g}"
    notes = _input_warnings(ctx, (doc.get("run") or {}).get("finished_at"), {
        "error rate": ctx.spec.slo.error_rate.max_ratio, "events lost": float(ctx.spec.loadtest.max_loss),
        "never finished": float(ctx.spec.loadtest.max_unfinished), "refused": ctx.spec.loadtest.max_refused_ratio,
        latency_name: ctx.spec.slo.delivery_latency.threshold_s}, thresholds)
    outcome = (warned if notes else passed)(
        f"{users} users, every threshold held" + (f"; but {'; '.join(notes)}" if notes else ""), **evidence)
    latency = (thresholds.get(latency_name) or {}).get("value")
    outcome.measured = f"{users} users" + (f", p95 {latency * 1000:.0f} ms" if isinstance(latency, (int, float)) else "")
    return outcome


def _input_warnings(ctx: GateContext, finished_at: Any, limits: dict[str, float], thresholds: dict[str, Any]) -> list[str]:
    """Why a given results file may not speak for this release: too old, or judged by another spec."""
    notes = []
    age = _age_s(finished_at)
    if age is None:
        notes.append("the file does not say when it ran")
    elif age > ctx.spec.verify.max_input_age_s:
        notes.append(f"it ran {age / 86400:.1f} days ago (limit {ctx.spec.verify.max_input_age_s / 86400:g})")
    for name, limit in limits.items():
        theirs = (thresholds.get(name) or {}).get("limit")
        if theirs is not None and abs(float(theirs) - limit) > 1e-12:
            notes.append(f"its {name} limit {theirs} is not this spec's {limit:g} (another spec)")
    return notes


@check(id="bench.results", title_en="Benchmark results (diagops bench)", title_zh="基准测试结果",
       category="performance", required=False, needs="bench")
async def bench_results(ctx: GateContext) -> Outcome:
    path = ctx.inputs.bench
    assert path is not None
    doc = _results_file(path, "bench", lambda d: str(d.get("kind", "")).startswith("diagops.bench"))
    if isinstance(doc, Outcome):
        return doc
    ratio = (doc.get("hit_ratio") or {}).get("client") if isinstance(doc.get("hit_ratio"), dict) else doc.get("hit_ratio")
    objective = ctx.spec.slo.cache_hit.min_hit_ratio
    evidence = {"file": str(path), "kind": doc.get("kind"), "hit_ratio": ratio}
    if not isinstance(ratio, (int, float)):
        return failed(f"{path} carries no hit ratio", **evidence)
    if ratio < objective:
        return failed(f"benchmark hit ratio {ratio:.1%} (objective ≥ {objective:.0%})", **evidence)
    notes = _input_warnings(ctx, doc.get("finished_at"), {}, {})
    outcome = (warned if notes else passed)(
        f"benchmark hit ratio {ratio:.1%}" + (f"; but {'; '.join(notes)}" if notes else ""), **evidence)
    outcome.measured = f"{ratio:.1%}"
    return outcome
