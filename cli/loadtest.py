"""`diagops loadtest`: hold N diagnosis sockets against the push service and judge the result.

The command never imports Locust or gevent (`import locust` monkey-patches the
whole process with gevent): it plans the run, starts the Locust processes and,
without `--host`, the embedded service as children, watches them, and turns
what they wrote into a verdict. Exit 0 when every threshold holds, 1 when one
fails (or the generator was saturated), 2 on a usage error, 3 when the target
or a tool is unavailable.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import typer

from diagops.cli.config import duration_flag, load_for_command, resolve_secret
from diagops.cli.context import EXIT_ENVIRONMENT, EXIT_INTERRUPTED, EXIT_USAGE, CommandError, get_context
from diagops.cli.urls import checked_url
from diagops.loadtests import outputs

DEFAULT_OUT = Path("reports/out/loadtest")


def register(app: typer.Typer) -> None:
    app.command("loadtest", short_help="Load-test the push service; exit code is the verdict.")(loadtest)


def loadtest(
    ctx: typer.Context,
    host: Optional[str] = typer.Option(None, "--host", help="Base URL of a running service (default: start the embedded one)."),
    users: Optional[int] = typer.Option(None, "--users", "-u", help="Concurrent users, one socket each (loadtest.users, 100)."),
    spawn_rate: Optional[float] = typer.Option(None, "--spawn-rate", "-r", help="Users started per second (loadtest.spawn_rate, 20)."),
    duration: Optional[str] = typer.Option(None, "--duration", "-t", help="Run time, e.g. 60s, 2m (loadtest.duration_s, 60 s)."),
    workers: int = typer.Option(0, "--workers", help="Locust worker processes (distributed mode); 0: one process."),
    ui: bool = typer.Option(False, "--ui", help="Show Locust's web UI on 127.0.0.1 while it runs."),
    ui_port: int = typer.Option(8089, "--ui-port", help="Port of Locust's web UI."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help=f"Directory for {outputs.RESULTS}, {outputs.SUMMARY}, Locust's CSV/HTML."),
    json_output: bool = typer.Option(False, "--json", help="Print the results JSON on stdout (no live view)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Spec file (default ./diagops.yaml if present)."),
    token_secret: Optional[str] = typer.Option(None, "--token-secret", help="JWT secret of the target, to mint a token per user (or DIAGOPS_JWT_SECRET, which ps does not show)."),
    token: Optional[list[str]] = typer.Option(None, "--token", help="A ready token; repeat for several (users take them in turn)."),
    master_bind: Optional[str] = typer.Option(None, "--master-bind", help="HOST:PORT: be the master for --workers N remote workers."),
    worker: bool = typer.Option(False, "--worker", help="Only run worker process(es) for a master elsewhere (--master-host)."),
    master_host: Optional[str] = typer.Option(None, "--master-host", help="The master to join with --worker."),
    master_port: int = typer.Option(5557, "--master-port", help="The master's port with --worker."),
) -> None:
    """Hold N diagnosis sockets against the push service; judge delivery latency, lost events,
    diagnoses that never finished, refused ones and errors, each apart.

    Thresholds come from diagops.yaml (slo.delivery_latency, slo.diagnosis_duration,
    slo.error_rate, loadtest.max_loss, loadtest.max_unfinished, loadtest.max_refused_ratio).
    Exit 0 all hold, 1 one fails, 2 usage, 3 environment.
    """
    context = get_context(ctx)
    from diagops.loadtests.plan import run_duration

    duration_s = duration_flag("--duration", duration, run_duration)
    # Checked here, not with typer's min=: its errors do not reach the one-line error edge.
    if users is not None and users < 1:
        raise CommandError("--users must be at least 1", EXIT_USAGE)
    if workers < 0:
        raise CommandError("--workers must be 0 (one process) or more", EXIT_USAGE)
    if spawn_rate is not None and spawn_rate <= 0:
        raise CommandError("--spawn-rate must be above 0", EXIT_USAGE)
    spec = load_for_command(config, {"loadtest.users": ("--users", users),
                                     "loadtest.spawn_rate": ("--spawn-rate", spawn_rate),
                                     "loadtest.duration_s": ("--duration", duration_s)})
    if worker:
        raise typer.Exit(_run_workers(context, spec, master_host, master_port, max(workers, 1), out, token))
    if master_host is not None:
        raise CommandError("--master-host only goes with --worker", EXIT_USAGE)
    bind = _bind(master_bind)
    if bind is not None and workers < 1:
        raise CommandError("--master-bind needs --workers N: how many remote workers to wait for", EXIT_USAGE)

    if ui:
        _require_free_port(ui_port, "--ui-port")
    from diagops.loadtests.embedded import EmbeddedService, ServiceError, check_reachable
    from diagops.push.auth import random_secret

    plan = _plan(spec, host or "", out, workers=workers, ui=ui, ui_port=ui_port, bind=bind)
    env = _child_env()
    try:
        if host is None:
            if token or token_secret:
                raise CommandError("--token/--token-secret only go with --host (the embedded service has its own)", EXIT_USAGE)
            secret = random_secret()
            env["DIAGOPS_JWT_SECRET"] = secret
            # The embedded engine runs at loadtest.embedded_engine_speed: engine.speed in diagops.yaml
            # is the service's own (realistic) setting. Only an explicit environment override wins.
            speed = None if "DIAGOPS_ENGINE__SPEED" in os.environ else spec.loadtest.embedded_engine_speed
            out.mkdir(parents=True, exist_ok=True)
            with EmbeddedService(out / outputs.SERVICE_LOG, secret=secret, engine_speed=speed, config=config) as service:
                document = _execute(context, spec, replace(plan, host=service.url), env,
                                    embedded=True, engine_speed=speed, json_output=json_output)
        else:
            checked_url(host, "--host")
            _tokens(env, spec, token, token_secret)
            check_reachable(host)
            document = _execute(context, spec, plan, env, embedded=False, engine_speed=None, json_output=json_output)
    except ServiceError as exc:
        raise CommandError(str(exc), EXIT_ENVIRONMENT) from None
    raise typer.Exit(document["verdict"]["exit_code"])


def _require_free_port(port: int, flag: str, host: str = "127.0.0.1") -> None:
    """Found before anything starts: otherwise Locust's UI fails inside the run, which then
    looks like a failed load test rather than the environment's problem."""
    import errno
    import socket

    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
            raise CommandError(f"{flag} {port}: port {port} on {host} {reason}", EXIT_ENVIRONMENT) from None


def _plan(spec: Any, host: str, out: Path, *, workers: int, ui: bool, ui_port: int,
          bind: tuple[str, int] | None) -> Any:
    """The run as data, every setting from the spec (flags were merged into it)."""
    from diagops.loadtests.plan import Plan
    from diagops.procs.ports import free_port

    lt = spec.loadtest
    return Plan(
        host=host, users=lt.users, spawn_rate=lt.spawn_rate, duration_s=lt.duration_s, out=out,
        workers=workers, ui=ui, ui_port=ui_port, master_bind=bind,
        master_port=free_port() if workers and bind is None else 5557,
        stop_timeout_s=lt.final_timeout_s,  # a running diagnosis may reach its final event
        think_time_s=(lt.think_min_s, lt.think_max_s), weights=lt.weights.model_dump(),
        brands=lt.brands.count, brand_skew=lt.brands.skew,
        final_timeout_s=lt.final_timeout_s, ping_timeout_s=lt.ping_timeout_s, token_algorithm=spec.auth.algorithm,
    )


def _execute(context: Any, spec: Any, plan: Any, env: dict[str, str], *, embedded: bool,
             engine_speed: float | None, json_output: bool) -> dict[str, Any]:
    from diagops.loadtests import session
    from diagops.push.protocol import utc_timestamp

    started_at = utc_timestamp()
    if plan.ui:
        context.err_console.print(f"Locust web UI: http://127.0.0.1:{plan.ui_port}")
    interrupted = False
    try:
        if json_output:
            code, timed_out = session.run_generator(plan, env)
        else:
            code, timed_out = _run_live(context, plan, env)
    except KeyboardInterrupt:  # run_generator has stopped the generator, which wrote what it had
        code, timed_out, interrupted = None, False, True
    info = session.run_info(plan, embedded=embedded, engine_speed=engine_speed, started_at=started_at,
                            generator_exit=code, timed_out=timed_out, interrupted=interrupted)
    try:
        document = session.collect(plan, spec, info)
    except session.GeneratorError as exc:
        raise CommandError(str(exc), EXIT_ENVIRONMENT) from None
    if json_output:
        context.emit_json(document)
    else:
        from diagops.loadtests.console import final_tables

        context.console.print(final_tables(document))
        context.console.print(f"Reports in {plan.out}/ ({outputs.SUMMARY}, {outputs.RESULTS}, {outputs.LOCUST_HTML})", highlight=False)
    if interrupted:
        raise CommandError(f"interrupted: partial results in {plan.out / outputs.RESULTS}", EXIT_INTERRUPTED)
    return document


def _run_live(context: Any, plan: Any, env: dict[str, str]) -> tuple[int | None, bool]:
    from rich.live import Live

    from diagops.loadtests import session
    from diagops.loadtests.console import LiveState

    state = LiveState(plan.out / outputs.TIMESERIES, plan.duration_s, plan.users, plan.stop_timeout_s)
    with Live(state.render(), console=context.err_console, refresh_per_second=2, transient=True) as live:
        def tick() -> None:
            state.poll()
            live.update(state.render())

        return session.run_generator(plan, env, tick)


def _run_workers(context: Any, spec: Any, master_host: str | None, master_port: int, count: int, out: Path,
                 tokens: list[str] | None) -> int:
    """`--worker`: generator processes for a master on another machine, until it releases them.

    A token secret arrives from the master with the run's options; ready tokens
    (--token) stay on this machine and are given to these workers only.
    """
    if not master_host:
        raise CommandError("--worker needs --master-host", EXIT_USAGE)
    import time

    from diagops.loadtests.launcher import Child
    from diagops.loadtests.plan import Plan

    plan = Plan(host="", users=spec.loadtest.users, spawn_rate=spec.loadtest.spawn_rate,
                duration_s=spec.loadtest.duration_s, out=out, workers=count,
                stop_timeout_s=spec.loadtest.final_timeout_s)
    env = _child_env()
    if tokens:
        env["DIAGOPS_LOADTEST_TOKENS"] = "\n".join(tokens)
    children = [Child(f"worker-{i}", plan.worker_command(master_host, master_port), out / outputs.worker_log(i), env)
                for i in range(1, count + 1)]
    context.err_console.print(f"{count} worker(s) joining {master_host}:{master_port}; they end when the master does")
    deadline = time.monotonic() + plan.deadline_s + 120.0  # waiting for the master to start, too
    codes = []
    try:
        for child in children:
            codes.append(child.wait(deadline - time.monotonic()))
    finally:
        for child in children:
            child.stop()
    if any(code is None for code in codes):
        raise CommandError("the workers outlived their time bound and were stopped", EXIT_ENVIRONMENT)
    if any(codes):
        raise CommandError(f"a worker failed: {children[0].last_lines()}", EXIT_ENVIRONMENT)
    return 0


def _tokens(env: dict[str, str], spec: Any, tokens: list[str] | None, token_secret: str | None) -> None:
    """Where users get tokens for an external target: given tokens, a given secret, or the configured one."""
    if tokens:
        env["DIAGOPS_LOADTEST_TOKENS"] = "\n".join(tokens)
        return
    secret = token_secret or resolve_secret(spec)
    if not secret:
        raise CommandError("--host needs tokens: give --token-secret, --token, or set DIAGOPS_JWT_SECRET", EXIT_USAGE)
    env["DIAGOPS_JWT_SECRET"] = secret


def _child_env() -> dict[str, str]:
    """The children's environment: ours, without tokens inherited by accident (the installed
    `diagops` package is what the locustfile imports)."""
    env = dict(os.environ)
    env.pop("DIAGOPS_LOADTEST_TOKENS", None)
    return env


def _bind(text: str | None) -> tuple[str, int] | None:
    if text is None:
        return None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(f"--master-bind must be HOST:PORT (got {text!r})", EXIT_USAGE)
    return host, int(port)
