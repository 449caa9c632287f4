"""`diagops bench`: the cache-hit, update-latency and fan-out benchmarks.

Every mode measures a running service (the embedded one by default, or `--target URL`
with `--jwt-secret-file`) and prints each figure beside the reference that gives it
meaning: the offline optimum for the cache, polling for latency, the last step that held
for fan-out. Exit 0 every objective holds, 1 one is missed (or the run is not a sound
measurement), 2 usage, 3 target unreachable.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from pathlib import Path
from typing import Any, Optional

import typer

from diagops.cli.config import duration_flag, load_for_command, resolve_secret
from diagops.cli.context import EXIT_ENVIRONMENT, EXIT_USAGE, CommandError, Context, get_context
from diagops.cli.urls import checked_url

DEFAULT_OUT = Path("reports/out/bench")
DEFAULT_RATE = 200.0  # requests per second of the open model when neither --rate nor --concurrency is given
bench_app = typer.Typer(help="Benchmarks with their references: cache (vs Belady), latency (vs polling), push (fan-out).",
                        short_help="Benchmarks beside their references (Belady, polling).", no_args_is_help=True,
                        rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")


def _values(text: str | None, flag: str, parse: Any) -> list[float]:
    if not text:
        raise CommandError(f"{flag} needs a comma-separated list, e.g. 10,50,100", EXIT_USAGE)
    try:
        values = [float(parse(part.strip())) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise CommandError(f"{flag}: {exc}", EXIT_USAGE) from None
    if not values or any(v < 0 for v in values):
        raise CommandError(f"{flag}: values must be 0 or more", EXIT_USAGE)
    return values


def _secret_for_target(spec: Any, target: str | None, secret_file: Path | None) -> str | None:
    if target is None:
        if secret_file is not None:
            raise CommandError("--jwt-secret-file only goes with --target (the embedded service has its own)", EXIT_USAGE)
        return None
    checked_url(target, "--target")
    secret = resolve_secret(spec, secret_file)
    if secret is None:
        raise CommandError("--target needs the service's JWT secret: --jwt-secret-file F (or DIAGOPS_JWT_SECRET)", EXIT_USAGE)
    return secret


def _finish(context: Context, doc: dict[str, Any], out: Path, json_output: bool, tables: list[Any], markdown: Path) -> None:
    from diagops.bench.render import verdict_line

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{doc['kind'].rsplit('.', 1)[-1]}.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if json_output:
        context.emit_json(doc)
    else:
        for table in tables:
            context.console.print(table)
        note = (doc.get("capacity") or {}).get("note")
        context.console.print(verdict_line(doc) + (f" ({note})" if note else ""))
        context.console.print(f"results: {path}  report: {markdown}")
    raise typer.Exit(doc["verdict"]["exit_code"])


@bench_app.command("cache", short_help="Cache hit ratio beside the offline optimum.")
def cache(
    ctx: typer.Context,
    target: Optional[str] = typer.Option(None, "--target", help="Base URL of a running service (default: start the embedded one)."),
    jwt_secret_file: Optional[Path] = typer.Option(None, "--jwt-secret-file", help="The target's JWT secret, to mint the benchmark's token."),
    distribution: str = typer.Option("zipf", "--distribution", "-d", help="zipf | uniform | trace (with --trace)."),
    trace: Optional[Path] = typer.Option(None, "--trace", help="A recorded trace: one normalised request (JSON body or brand) per line."),
    alpha: float = typer.Option(1.1, "--alpha", help="Zipf exponent."),
    distinct: int = typer.Option(200, "--distinct", help="Distinct requests (zipf, uniform)."),
    requests: int = typer.Option(2000, "--requests", "-n", help="Requests to send (a trace is cycled to this length)."),
    rate: Optional[float] = typer.Option(None, "--rate", help="Requests per second, open model (default 200 unless --concurrency)."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", help="Back-to-back clients instead of a fixed rate."),
    duration: Optional[str] = typer.Option(None, "--duration", help="Stop sending after this long, e.g. 30s."),
    seed: int = typer.Option(1, "--seed", help="Seed of the generator (the same stream at every sweep point)."),
    capacity: Optional[int] = typer.Option(None, "--capacity", help="Cache entries (cache.max_entries); with --target, what it is configured with."),
    ttl: Optional[str] = typer.Option(None, "--ttl", help="Cache TTL, e.g. 1h; 0 turns the cache off (cache.ttl_s)."),
    policy: Optional[str] = typer.Option(None, "--policy", help="Cache policy: tinylfu | lru (cache.policy); with --target, what it runs."),
    sweep: Optional[str] = typer.Option(None, "--sweep", help="capacity | ttl: one embedded run per --points value."),
    points: Optional[str] = typer.Option(None, "--points", help="The sweep's values, e.g. 10,50,100 or 1s,10s,1m."),
    engine_speed: float = typer.Option(100.0, "--engine-speed", help="Embedded engine speed (100: a diagnosis takes ~0.2 s)."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Directory for bench-cache.json, bench-cache.md and charts."),
    json_output: bool = typer.Option(False, "--json", help="Print the results JSON on stdout (no live view)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Spec file (default ./diagops.yaml if present)."),
) -> None:
    """Hit ratio under a Zipf/uniform/trace stream, beside Belady's optimum and an unbounded cache.

    Judged against slo.cache_hit.min_hit_ratio; the client's and the service's hit counts must agree.
    """
    context = get_context(ctx)
    from diagops.bench.keys import DISTRIBUTIONS
    from diagops.spec.durations import parse_duration

    ttl_s = duration_flag("--ttl", ttl)
    duration_s = duration_flag("--duration", duration)
    if distribution not in DISTRIBUTIONS:
        raise CommandError(f"--distribution must be one of {', '.join(DISTRIBUTIONS)}", EXIT_USAGE)
    if (distribution == "trace") != (trace is not None):
        raise CommandError("--trace FILE goes with --distribution trace, and it needs one", EXIT_USAGE)
    if distinct < 1 or requests < 1 or alpha < 0:
        raise CommandError("--distinct and --requests must be at least 1, --alpha 0 or more", EXIT_USAGE)
    if rate is not None and concurrency is not None:
        raise CommandError("--rate (open model) and --concurrency (closed model) exclude each other", EXIT_USAGE)
    if (rate is not None and rate <= 0) or (concurrency is not None and concurrency < 1) or engine_speed <= 0:
        raise CommandError("--rate and --engine-speed must be above 0, --concurrency at least 1", EXIT_USAGE)
    if (sweep is None) != (points is None):
        raise CommandError("--sweep capacity|ttl and --points go together", EXIT_USAGE)
    if sweep is not None and sweep not in ("capacity", "ttl"):
        raise CommandError("--sweep must be capacity or ttl", EXIT_USAGE)
    if sweep is not None and target is not None:
        raise CommandError("--sweep restarts the service at each point: it runs on the embedded service only", EXIT_USAGE)
    values = _values(points, "--points", int if sweep == "capacity" else parse_duration) if sweep else []
    spec = load_for_command(config, {"cache.max_entries": ("--capacity", capacity), "cache.ttl_s": ("--ttl", ttl_s),
                                     "cache.policy": ("--policy", policy)})
    secret = _secret_for_target(spec, target, jwt_secret_file)
    keys = _stream(distribution, trace, requests, distinct, alpha, seed)
    from diagops.bench.cache_run import Drive

    plan = Drive(keys, salt=secrets.token_hex(4), rate=(rate or DEFAULT_RATE) if concurrency is None else None,
                 concurrency=concurrency, duration_s=duration_s)
    doc = _run_cache(context, spec, plan, target, secret, sweep, values, engine_speed, out, config, json_output,
                     {"distribution": distribution, "trace": str(trace) if trace else None, "alpha": alpha if distribution == "zipf" else None,
                      "distinct": len(set(keys)), "requests": len(keys), "rate": plan.rate, "concurrency": plan.concurrency,
                      "duration_s": duration_s, "seed": seed})
    from diagops.bench.render import cache_markdown, cache_tables

    _finish(context, doc, out, json_output, cache_tables(doc), cache_markdown(doc, out))


def _stream(distribution: str, trace: Path | None, requests: int, distinct: int, alpha: float, seed: int) -> list[Any]:
    from diagops.bench.keys import TraceError, read_trace, uniform_trace, zipf_trace

    if distribution == "zipf":
        return zipf_trace(requests, distinct, alpha, seed)
    if distribution == "uniform":
        return uniform_trace(requests, distinct, seed)
    assert trace is not None
    try:
        recorded = read_trace(trace)
    except TraceError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    return [recorded[i % len(recorded)] for i in range(requests)]  # cycled or cut to --requests


def _run_cache(context: Context, spec: Any, plan: Any, target: str | None, secret: str | None, sweep: str | None,
               values: list[float], engine_speed: float, out: Path, config: Path | None, json_output: bool,
               workload: dict[str, Any]) -> dict[str, Any]:
    from diagops.bench.cache_bench import CacheSettings, measure, problems, sweep_points
    from diagops.bench.document import Objective, envelope, verdict
    from diagops.bench.target import TargetError, embedded_target, remote_target
    from diagops.push.protocol import utc_timestamp

    configured = CacheSettings(spec.cache.max_entries, spec.cache.ttl_s, spec.cache.policy)
    chosen = sweep_points(sweep, values, configured.capacity if sweep == "capacity" else configured.ttl_s) if sweep else []
    settings_list = [dataclasses.replace(configured, **{"capacity": int(v)} if sweep == "capacity" else {"ttl_s": v})
                     for v in chosen] or [configured]
    started_at = utc_timestamp()
    runs = []
    try:
        with _progress(context, json_output) as progress:
            for settings in settings_list:
                task = progress.add_task(f"{settings.policy} capacity {settings.capacity}, TTL {settings.ttl_s:g} s",
                                         total=len(plan.trace))
                advance = lambda done, task=task: progress.update(task, completed=done)  # noqa: E731
                if target is None:
                    env = {"DIAGOPS_CACHE__MAX_ENTRIES": str(settings.capacity), "DIAGOPS_CACHE__TTL_S": repr(settings.ttl_s),
                           "DIAGOPS_CACHE__POLICY": settings.policy, "DIAGOPS_ENGINE__SPEED": f"{engine_speed:g}"}
                    with embedded_target(out / "service.log", env, config) as service:
                        runs.append(measure(service, plan, settings, advance))
                else:
                    assert secret is not None
                    runs.append(measure(remote_target(target, secret), plan, settings, advance))
    except TargetError as exc:
        raise CommandError(str(exc), EXIT_ENVIRONMENT) from None
    run = next(r for r, s in zip(runs, settings_list) if s == configured)
    objective = spec.slo.cache_hit.min_hit_ratio
    doc = envelope("cache", started_at, utc_timestamp(), {"url": target, "embedded": target is None,
                                                          "engine_speed": engine_speed if target is None else None})
    found = [p for r in runs for p in problems(r)]
    doc.update({"workload": workload, "objective": {"min_hit_ratio": objective}, "run": run,
                "hit_ratio": run["hit_ratio"]["client"], "share_of_optimum": run["share_of_optimum"],
                "sweep": {"parameter": sweep, "points": [{"value": s.capacity if sweep == "capacity" else s.ttl_s, **r}
                                                         for s, r in zip(settings_list, runs)]} if sweep else None})
    objectives = [Objective("cache hit ratio", run["hit_ratio"]["client"], objective, at_least=True)]
    doc["objectives"] = [o.as_dict() for o in objectives]
    doc["verdict"] = verdict(objectives, sorted(set(found)))
    return doc


def _progress(context: Context, quiet: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=context.err_console, disable=quiet, transient=False)


@bench_app.command("latency", short_help="Update staleness: socket against polling.")
def latency(
    ctx: typer.Context,
    target: Optional[str] = typer.Option(None, "--target", help="Base URL of a running service (default: start the embedded one)."),
    jwt_secret_file: Optional[Path] = typer.Option(None, "--jwt-secret-file", help="The target's JWT secret, to mint the benchmark's token."),
    diagnoses: int = typer.Option(5, "--diagnoses", help="Diagnoses followed at once by every client."),
    intervals: str = typer.Option("2s,5s,30s", "--intervals", help="Polling intervals of the baseline (the plan's old 2-30 s)."),
    poll_scale: float = typer.Option(1.0, "--poll-scale", help="Multiply every polling interval by this (0.05 for a quick run)."),
    engine_speed: Optional[float] = typer.Option(None, "--engine-speed", help="Embedded engine speed (loadtest.embedded_engine_speed, 10: ~2 s a diagnosis)."),
    timeout: str = typer.Option("5m", "--timeout", help="Give up on diagnoses not final by then."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Directory for bench-latency.json, bench-latency.md and its chart."),
    json_output: bool = typer.Option(False, "--json", help="Print the results JSON on stdout (no live view)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Spec file (default ./diagops.yaml if present)."),
) -> None:
    """Staleness of updates over the socket against polling every 2 s / 5 s / 30 s, and the factor.

    Judged against slo.delivery_latency (share of socket updates within threshold_s).
    """
    context = get_context(ctx)
    from diagops.spec.durations import parse_duration

    deadline_s = duration_flag("--timeout", timeout)
    if diagnoses < 1 or poll_scale <= 0 or (engine_speed is not None and engine_speed <= 0):
        raise CommandError("--diagnoses must be at least 1, --poll-scale and --engine-speed above 0", EXIT_USAGE)
    chosen = [v * poll_scale for v in _values(intervals, "--intervals", parse_duration)]
    if any(v <= 0 for v in chosen):
        raise CommandError("--intervals must be above 0", EXIT_USAGE)
    spec = load_for_command(config)
    secret = _secret_for_target(spec, target, jwt_secret_file)
    speed = engine_speed or spec.loadtest.embedded_engine_speed
    from diagops.bench.document import envelope, verdict
    from diagops.bench.latency_bench import judge, measure
    from diagops.bench.target import TargetError, embedded_target, remote_target
    from diagops.push.protocol import utc_timestamp

    slo = spec.slo.delivery_latency
    started_at = utc_timestamp()
    salt = secrets.token_hex(4)
    assert deadline_s is not None
    try:
        with _progress(context, json_output) as progress:
            task = progress.add_task("diagnoses final, all clients", total=diagnoses * (len(chosen) + 1))
            advance = lambda done: progress.update(task, completed=done)  # noqa: E731
            if target is None:
                with embedded_target(out / "service.log", {"DIAGOPS_ENGINE__SPEED": f"{speed:g}"}, config) as service:
                    rows, share = measure(service, diagnoses, chosen, salt, deadline_s, slo.threshold_s, advance)
            else:
                assert secret is not None
                rows, share = measure(remote_target(target, secret), diagnoses, chosen, salt, deadline_s, slo.threshold_s, advance)
    except TargetError as exc:
        raise CommandError(str(exc), EXIT_ENVIRONMENT) from None
    objectives, problems = judge(rows, share, slo.threshold_s, slo.target, diagnoses)
    doc = envelope("latency", started_at, utc_timestamp(), {"url": target, "embedded": target is None,
                                                            "engine_speed": speed if target is None else None})
    doc.update({"workload": {"diagnoses": diagnoses, "intervals_s": chosen, "poll_scale": poll_scale},
                "objective": {"threshold_s": slo.threshold_s, "target": slo.target}, "share_within_threshold": share,
                "modes": rows, "objectives": [o.as_dict() for o in objectives], "verdict": verdict(objectives, problems)})
    from diagops.bench.render import latency_markdown, latency_tables

    _finish(context, doc, out, json_output, latency_tables(doc), latency_markdown(doc, out))


@bench_app.command("push", short_help="Sockets raised step by step to the first miss.")
def push(
    ctx: typer.Context,
    target: Optional[str] = typer.Option(None, "--target", help="Base URL of a running service (default: start the embedded one)."),
    jwt_secret_file: Optional[Path] = typer.Option(None, "--jwt-secret-file", help="The target's JWT secret (subscribe and publish tokens)."),
    start: int = typer.Option(100, "--start", help="Sockets at the first step."),
    bound: int = typer.Option(2000, "--max-sockets", help="Sockets at the last step (steps go 1-2-5 in between)."),
    steps: Optional[str] = typer.Option(None, "--steps", help="Explicit socket counts instead, e.g. 100,500,1000."),
    watchers: int = typer.Option(1, "--watchers", help="Sockets per diagnosis (1: the mini program's case)."),
    seconds: float = typer.Option(5.0, "--seconds", help="Measured window of each step."),
    warmup: float = typer.Option(1.0, "--warmup", help="Warm-up of each step before its window."),
    period: float = typer.Option(1.0, "--period", help="Seconds between two events of one diagnosis."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Directory for bench-push.json, bench-push.md and its chart."),
    json_output: bool = typer.Option(False, "--json", help="Print the results JSON on stdout (no live view)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Spec file (default ./diagops.yaml if present)."),
) -> None:
    """Fan-out capacity: subscribed sockets raised step by step until delivery breaks the objective.

    Judged against slo.capacity.required_connections; a step holds while delivery p99 is within
    slo.delivery_latency.threshold_s with no errors.
    """
    context = get_context(ctx)
    if watchers < 1 or seconds <= 0 or warmup < 0 or period <= 0:
        raise CommandError("--watchers must be at least 1, --seconds and --period above 0, --warmup 0 or more", EXIT_USAGE)
    from diagops.bench.fanout import climb, run_step, server_settings, step_list

    try:
        counts = [int(v) for v in _values(steps, "--steps", int)] if steps else step_list(start, bound)
    except ValueError as exc:
        raise CommandError(f"--start/--max-sockets: {exc}", EXIT_USAGE) from None
    if any(b <= a for a, b in zip(counts, counts[1:])) or counts[0] < 1:
        raise CommandError("--steps must increase and start at 1 or more", EXIT_USAGE)
    spec = load_for_command(config)
    secret = _secret_for_target(spec, target, jwt_secret_file)
    from diagops.bench.document import Objective, envelope, verdict
    from diagops.bench.target import TargetError, embedded_target, remote_target
    from diagops.push.protocol import utc_timestamp

    threshold_ms = spec.slo.delivery_latency.threshold_s * 1000
    started_at = utc_timestamp()
    try:
        with _progress(context, json_output) as progress:
            task = progress.add_task("steps", total=len(counts))
            advance = lambda done: progress.update(task, completed=done)  # noqa: E731

            def measure(service: Any) -> list[dict[str, Any]]:
                return climb(counts, lambda n: run_step(service, n, watchers, seconds, period, warmup), threshold_ms, advance)

            if target is None:
                with embedded_target(out / "service.log", server_settings(), config) as service:
                    rows = measure(service)
            else:
                assert secret is not None
                rows = measure(remote_target(target, secret))
    except TargetError as exc:
        raise CommandError(str(exc), EXIT_ENVIRONMENT) from None
    held = [r for r in rows if r["held"]]
    last = held[-1]["sockets"] if held else None
    breaking = next((r for r in rows if not r["held"]), None)
    note = ("every step held: the capacity is at least the last step" if breaking is None else
            f"the load client or machine limited the step that broke ({breaking['limited_by']}): a lower bound, not the server's capacity"
            if breaking["client_limited"] else f"the step of {breaking['sockets']:,} broke ({breaking['limited_by']})")
    required = spec.slo.capacity.required_connections
    objectives = [Objective("sockets held", float(last) if last is not None else None, float(required), at_least=True)]
    doc = envelope("push", started_at, utc_timestamp(), {"url": target, "embedded": target is None,
                                                         "server_measured": target is None})
    doc.update({"workload": {"steps": counts, "watchers_per_diagnosis": watchers, "seconds": seconds, "warmup_s": warmup,
                             "period_s": period},
                "objective": {"required_connections": required, "delivery_threshold_ms": threshold_ms},
                "steps": rows, "capacity": {"sockets": last, "client_limited": bool(breaking and breaking["client_limited"]), "note": note},
                "objectives": [o.as_dict() for o in objectives], "verdict": verdict(objectives, [])})
    from diagops.bench.render import push_markdown, push_tables

    _finish(context, doc, out, json_output, push_tables(doc), push_markdown(doc, out))
