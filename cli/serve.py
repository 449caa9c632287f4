"""`diagops serve`: run the push service."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import typer

from diagops.cli.config import load_for_command, resolve_secret
from diagops.cli.context import EXIT_ENVIRONMENT, EXIT_USAGE, CommandError, get_context

DEMO_USER = "demo"


def register(app: typer.Typer) -> None:
    app.command("serve", short_help="Run the push service.")(serve)


def _share_metrics_across_workers() -> str | None:
    """Point prometheus_client at a directory all workers write to, so any worker's /metrics
    answers for every worker. It must happen before prometheus_client is first imported."""
    import sys

    from diagops.push.metrics_env import MULTIPROCESS_ENV

    if os.environ.get(MULTIPROCESS_ENV):
        return None  # the operator chose the directory
    if "prometheus_client" in sys.modules:
        raise CommandError("internal: prometheus_client imported before the workers' metrics directory was set",
                           EXIT_ENVIRONMENT)
    directory = tempfile.mkdtemp(prefix="diagops-metrics-")
    os.environ[MULTIPROCESS_ENV] = directory
    return directory


def serve(
    ctx: typer.Context,
    host: Optional[str] = typer.Option(None, help="Address to bind (default 127.0.0.1: loopback only)."),
    port: Optional[int] = typer.Option(None, help="Port for WebSocket, HTTP API and /metrics (default 8765)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Spec file (default ./diagops.yaml if present)."),
    log_format: Optional[str] = typer.Option(None, "--log-format", help="text or json."),
    redis_url: Optional[list[str]] = typer.Option(
        None, "--redis-url", help="Use Redis for state, replay and fan-out; give it again per shard."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Processes sharing the port (needs --redis-url)."),
    jwt_secret_file: Optional[Path] = typer.Option(None, "--jwt-secret-file", help="File holding the JWT secret."),
) -> None:
    """Serve the push service (WebSocket, HTTP API and /metrics on one port) until SIGTERM/SIGINT.

    Frames, endpoints and codes: docs/protocol.md.
    """
    context = get_context(ctx)
    redis_value = None if not redis_url else redis_url[0] if len(redis_url) == 1 else list(redis_url)  # one, or shards
    spec = load_for_command(config, {
        "service.host": ("--host", host), "service.port": ("--port", port),
        "service.log_format": ("--log-format", log_format), "service.redis_url": ("--redis-url", redis_value),
        "service.workers": ("--workers", workers),
    })
    if spec.service.workers > 1 and not spec.service.redis_urls:
        raise CommandError("--workers above 1 needs a shared store: give --redis-url (or DIAGOPS_REDIS_URL)", EXIT_USAGE)
    secret = resolve_secret(spec, jwt_secret_file)
    from diagops.push.auth import mint_token, random_secret

    ready_note, page_token = "", None
    if secret is None:
        if spec.service.workers > 1:
            raise CommandError("--workers above 1 needs a configured JWT secret (DIAGOPS_JWT_SECRET or --jwt-secret-file)")
        secret = random_secret()
        token = mint_token(secret, DEMO_USER, ("subscribe", "publish"), ttl_s=24 * 3600, algorithm=spec.auth.algorithm)
        # Shown only once the service serves: a token for a service that failed to start misleads.
        ready_note = ("[yellow]No JWT secret configured: using a random one for this run.[/]\n"
                      f"Token for user '{DEMO_USER}' (scopes subscribe publish, 24 h):\n{token}\n")
        page_token = token

    metrics_dir = _share_metrics_across_workers() if spec.service.workers > 1 else None
    from diagops.push.logs import configure_logging
    from diagops.push.server import ServeError, run

    configure_logging(spec.service.log_format, debug=context.debug)
    try:
        if spec.service.workers > 1:
            from diagops.push.metrics import forget_process
            from diagops.push.workers import notify_ready, run_workers

            try:
                code = run_workers(
                    spec.service.workers,
                    lambda: run(spec, secret=secret, reuse_port=True, on_ready=lambda _url: notify_ready()),
                    grace_s=spec.service.shutdown_grace_s + 5.0,
                    on_exit=forget_process,
                )
            finally:
                if metrics_dir is not None:
                    shutil.rmtree(metrics_dir, ignore_errors=True)
            if code:
                raise CommandError(f"a worker exited with status {code}", EXIT_ENVIRONMENT)
        else:
            run(spec, secret=secret,
                on_ready=lambda url: context.console.print(_ready_message(url, ready_note, page_token), soft_wrap=True))
    except ServeError as exc:
        raise CommandError(str(exc), EXIT_ENVIRONMENT) from None


def _ready_message(url: str, note: str, page_token: str | None) -> str:
    """What serve prints once it serves; with a demo token, the live page's address ready to open."""
    page = f"\nWatch a diagnosis in a browser: {url}/?token={page_token}" if page_token else ""
    return f"{note}diagops serving on {url}{page}"
