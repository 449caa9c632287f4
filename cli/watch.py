"""`diagops watch` and `diagops run`: follow a diagnosis live in the terminal."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from diagops.cli.config import load_for_command, resolve_secret
from diagops.cli.context import EXIT_ENVIRONMENT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CommandError, Context, get_context
from diagops.cli.urls import checked_url

if TYPE_CHECKING:
    from diagops.spec import Spec

URL_HELP = ("Base URL of the push service (default: DIAGOPS_URL, else the address `serve` binds: "
            "service.host and service.port from --config/DIAGOPS_HOST/DIAGOPS_PORT, http://127.0.0.1:8765 built in).")
# A service bound to every address is reached on loopback from here.
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def register(app: typer.Typer) -> None:
    app.command("watch", short_help="Follow a diagnosis to its end.")(watch)
    app.command("run", short_help="Start a diagnosis and follow it.")(run)


def service_url(url: Optional[str], spec: Spec) -> str:
    """--url (or DIAGOPS_URL), else the URL of the service `serve` would start with the same settings."""
    if url:
        return checked_url(url, "--url")
    host = _ANY_ADDRESS.get(spec.service.host, spec.service.host)
    return f"http://{f'[{host}]' if ':' in host else host}:{spec.service.port}"


def _token(token: Optional[str], user: str, spec: Spec, scopes: tuple[str, ...] = ("subscribe",)) -> str:
    """--token, else DIAGOPS_TOKEN, else one minted for --user with the configured secret."""
    token = token or os.environ.get("DIAGOPS_TOKEN")
    if token:
        return token
    secret = resolve_secret(spec)
    if secret is None:
        raise CommandError("no token: pass --token (or DIAGOPS_TOKEN), or set DIAGOPS_JWT_SECRET to mint one", EXIT_USAGE)
    from diagops.push.auth import mint_token

    return mint_token(secret, user, scopes, ttl_s=3600, algorithm=spec.auth.algorithm)


def _command_error(exc: Exception) -> CommandError:
    """A request the service refused (bad token, unknown execution) is the caller's to fix (2);
    a service that cannot be reached, gives up, or stays busy past the timeout is the environment's (3)."""
    status = getattr(exc, "status", None)
    if getattr(exc, "retryable_start", False):
        return CommandError(f"still busy after retrying: {exc}", EXIT_ENVIRONMENT)
    return CommandError(str(exc), EXIT_USAGE if status is not None and 400 <= status < 500 else EXIT_ENVIRONMENT)


def _say_busy(context: Context, refusal: Any, wait_s: float) -> None:
    """Tell the person why nothing starts yet, and when it tries again."""
    reason = str(refusal).split(": ", 2)[-1]
    context.err_console.print(f"[yellow]busy ({refusal.code})[/]: {reason}; retrying in {wait_s:.1f} s "
                              f"(the service's Retry-After {refusal.retry_after_s:g} s plus jitter)")


def _interrupted(execution_id: str, url: str) -> CommandError:
    """Stopping the watcher does not stop the diagnosis: say so, and how to pick it up again."""
    return CommandError(f"interrupted: {execution_id} goes on on the server; follow it with "
                        f"`diagops watch {execution_id} --url {url}`", EXIT_INTERRUPTED)


def _follow(context: Context, url: str, token: str, execution_id: str, as_json: bool, timeout: float) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from diagops.push.client import ClientError, follow

    bar = Progress(TextColumn("[bold]{task.fields[stage]:<18}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                   TimeElapsedColumn(), TextColumn("{task.fields[text]}"), console=context.err_console,
                   disable=as_json)
    task = bar.add_task("diagnosis", total=100, stage="connecting", text="")

    def on_event(frame: dict[str, Any], _progress: Any) -> None:
        data = frame["data"]
        bar.update(task, completed=data.get("progress", 0), stage=data.get("stage", ""),
                   text=data.get("status_text", ""))

    try:
        with bar:
            result = follow(url, token, execution_id, on_event=on_event, timeout=timeout)
    except ClientError as exc:
        raise _command_error(exc) from None
    except KeyboardInterrupt:
        raise _interrupted(execution_id, url) from None
    final = result.final or {}
    summary = {"execution_id": execution_id, "event": final.get("event"), "events": len(result.events),
               "reconnects": result.reconnects, "polled": result.polled, "data": final.get("data", {})}
    if as_json:
        context.emit_json(summary)
    else:
        _show_final(context, summary)
    if final.get("event") == "error":
        raise typer.Exit(EXIT_FAILED)


def _show_final(context: Context, summary: dict[str, Any]) -> None:
    data = summary["data"]
    how = "polling" if summary["polled"] else f"WebSocket, {summary['reconnects']} reconnect(s)"
    if summary["event"] == "error":
        retry = "retry later" if data.get("retryable") else "fix the request"
        context.console.print(f"[red]✗ {data.get('error_type')}[/]: {data.get('message')} ({retry})")
        return
    report = data.get("report", {})
    context.console.print(f"[green]✓ complete[/] — {summary['events']} events via {how}")
    if report:
        from rich.table import Table

        table = Table(title=f"{report.get('brand', '')}: score {report.get('score', '?')}")
        for column in ("platform", "mentions", "sentiment", "rank"):
            table.add_column(column)
        for row in report.get("platforms", []):
            table.add_row(*(str(row.get(c, "")) for c in ("platform", "mentions", "sentiment", "rank")))
        context.console.print(table)
        if report.get("summary"):
            context.console.print(report["summary"])


def watch(
    ctx: typer.Context,
    execution_id: str = typer.Argument(..., help="The execution to follow."),
    url: Optional[str] = typer.Option(None, "--url", envvar="DIAGOPS_URL", show_envvar=False, help=URL_HELP),
    token: Optional[str] = typer.Option(None, "--token", help="User token (default: DIAGOPS_TOKEN, or minted)."),
    user: str = typer.Option("demo", "--user", help="User to mint a token for when none is given."),
    config: Optional[Path] = typer.Option(None, "--config", "-c"),
    timeout: float = typer.Option(600.0, "--timeout", help="Give up after this many seconds."),
    as_json: bool = typer.Option(False, "--json", help="Print the final event as JSON."),
) -> None:
    """Follow a diagnosis to its end: live progress, resume after drops, polling fallback.

    Exit codes: 0 complete, 1 the diagnosis ended in error, 2 refused (token, unknown
    execution), 3 service unreachable.
    """
    spec = load_for_command(config)
    _follow(get_context(ctx), service_url(url, spec), _token(token, user, spec), execution_id, as_json, timeout)


def run(
    ctx: typer.Context,
    brand: str = typer.Option(..., "--brand", help="The brand to diagnose."),
    platform: list[str] = typer.Option([], "--platform", help="AI platform (repeat; default: the engine's list)."),
    question: list[str] = typer.Option([], "--question", help="Question to ask (repeat)."),
    lang: Optional[str] = typer.Option(None, "--lang", help="zh or en."),
    url: Optional[str] = typer.Option(None, "--url", envvar="DIAGOPS_URL", show_envvar=False, help=URL_HELP),
    token: Optional[str] = typer.Option(None, "--token", help="User token (default: DIAGOPS_TOKEN, or minted)."),
    user: str = typer.Option("demo", "--user"),
    config: Optional[Path] = typer.Option(None, "--config", "-c"),
    timeout: float = typer.Option(600.0, "--timeout"),
    as_json: bool = typer.Option(False, "--json", help="Print the final event as JSON."),
) -> None:
    """Start a diagnosis on the service's engine and watch it (exit codes as `watch`)."""
    from diagops.push.client import ClientError, start_diagnosis

    context = get_context(ctx)
    body: dict[str, Any] = {"brand": brand}
    if platform:
        body["platforms"] = platform
    if question:
        body["questions"] = question
    if lang:
        body["lang"] = lang
    spec = load_for_command(config)
    url = service_url(url, spec)
    resolved = _token(token, user, spec)
    try:
        started = start_diagnosis(url, resolved, body, retry_for_s=timeout,
                                  on_retry=lambda refusal, wait: _say_busy(context, refusal, wait))
    except ClientError as exc:
        raise _command_error(exc) from None
    try:
        if not as_json:
            cached = " (from cache)" if started.get("cached") else ""
            context.err_console.print(f"started {started['execution_id']}{cached}")
        _follow(context, url, resolved, started["execution_id"], as_json, timeout)
    except KeyboardInterrupt:  # between the start and the follow
        raise _interrupted(started["execution_id"], url) from None
