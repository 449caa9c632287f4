"""`diagops status`: every indicator now against its objective, and the alerts firing, from Prometheus."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer

from diagops.cli.config import load_for_command
from diagops.cli.context import EXIT_ENVIRONMENT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CommandError, Context, get_context
from diagops.cli.urls import checked_url

STATE_STYLE = {"ok": "green", "violated": "bold red", "no traffic": "dim", "no data": "yellow"}


def register(app: typer.Typer) -> None:
    app.command("status", short_help="Each SLI now against its objective, and firing alerts.")(status)


def prometheus_query(url: str, timeout_s: float) -> Any:
    """A PromQL -> instant-vector function over prometheus-api-client, its errors turned into exit code 3.

    Imported here, not at module top: it pulls in requests and urllib3.
    """
    import requests
    from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
    from urllib3.util.retry import Retry

    client = PrometheusConnect(url=url, disable_ssl=True, retry=Retry(total=1, backoff_factor=0.1), timeout=timeout_s)

    def query(expr: str) -> list[dict[str, Any]]:
        try:
            return client.custom_query(expr)
        except requests.exceptions.RequestException as exc:
            raise CommandError(f"Prometheus unreachable at {url}: {type(exc).__name__}", EXIT_ENVIRONMENT) from None
        except PrometheusApiClientException as exc:
            raise CommandError(f"Prometheus at {url} refused the query: {exc}", EXIT_ENVIRONMENT) from None
        except ValueError:
            raise CommandError(f"{url} does not answer like a Prometheus API", EXIT_ENVIRONMENT) from None

    return query


def _table(report: Any, url: str) -> Any:
    from rich.table import Table

    table = Table(title=f"diagops at {url} (window {report.window})", title_justify="left")
    for column in ("indicator", "now", "objective", "state", "detail"):
        table.add_column(column)
    for i in report.indicators:
        table.add_row(i.name, i.shown, i.objective, f"[{STATE_STYLE[i.state]}]{i.state}[/]", i.detail)
    return table


def _alerts(report: Any) -> Any:
    from rich.table import Table
    from rich.text import Text

    if not report.alerts:
        return Text("No diagops alert pending or firing.", style="green")
    table = Table(title="Alerts", title_justify="left")
    for column in ("alert", "state", "severity", "labels"):
        table.add_column(column)
    for a in report.alerts:
        style = "bold red" if a.state == "firing" else "yellow"
        table.add_row(a.name, f"[{style}]{a.state}[/]", a.severity, " ".join(f"{k}={v}" for k, v in sorted(a.labels.items())))
    return table


def _verdict(report: Any) -> None:
    if report.ok:
        return
    if report.missing:
        first = report.missing[0]
        raise CommandError(f"{first.name}: {first.detail}", EXIT_FAILED)
    firing = [a.name for a in report.alerts if a.state == "firing"]
    violated = [i.name for i in report.indicators if i.state == "violated"]
    parts = ([f"objectives missed: {', '.join(violated)}"] if violated else []) + (
        [f"alerts firing: {', '.join(firing)}"] if firing else [])
    raise CommandError("; ".join(parts), EXIT_FAILED)


def _watch(context: Context, evaluate: Any, url: str, interval: float) -> None:
    """Redraw in place on a terminal; elsewhere (a log, a pipe) print one snapshot per refresh."""
    from rich.console import Group
    from rich.live import Live

    try:
        if not context.console.is_terminal:
            while True:
                report = evaluate()
                context.console.print(_table(report, url))
                context.console.print(_alerts(report))
                context.console.file.flush()
                time.sleep(interval)  # the refresh period of a display, not synchronisation
        with Live(console=context.console, auto_refresh=False) as live:
            while True:
                report = evaluate()
                live.update(Group(_table(report, url), _alerts(report)), refresh=True)
                time.sleep(interval)
    except KeyboardInterrupt:
        raise CommandError("interrupted", EXIT_INTERRUPTED) from None


def status(
    ctx: typer.Context,
    prometheus_url: str = typer.Option("http://localhost:9090", "--prometheus-url", "-p", envvar="DIAGOPS_PROMETHEUS_URL",
                                       help="Prometheus that scrapes diagops (env DIAGOPS_PROMETHEUS_URL)."),
    window: Optional[str] = typer.Option(None, "--window", help="Rate window for 'now' (default: the shortest burn-rate window, e.g. 5m)."),
    watch: bool = typer.Option(False, "--watch", "-w", help="Refresh until Ctrl-C."),
    interval: float = typer.Option(5.0, "--interval", min=0.5, help="Seconds between refreshes with --watch."),
    timeout: float = typer.Option(5.0, "--timeout", min=0.1, help="Seconds to wait for each query."),
    spec_path: Optional[Path] = typer.Option(None, "--spec", "--config", "-c", help="Spec file (default ./diagops.yaml if present)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON (not with --watch)."),
) -> None:
    """Show each SLI now against its objective, plus the diagops alerts pending or firing.

    Exit 1 when an objective is missed, a metric is missing or an alert fires; 3 when Prometheus is unreachable.
    """
    from diagops.alerts.slis import burn_windows
    from diagops.alerts.status import evaluate
    from diagops.spec.durations import duration_seconds  # not at the top: the spec package is slow to import

    if watch and json_out:
        raise CommandError("--watch and --json do not go together", EXIT_USAGE)
    spec = load_for_command(spec_path)
    window = window or burn_windows(spec)[0]
    try:
        duration_seconds(window)
    except ValueError:
        raise CommandError(f"--window '{window}' is not a Prometheus duration (e.g. 5m, 1h)", EXIT_USAGE) from None
    url = checked_url(prometheus_url, "--prometheus-url").rstrip("/")
    query = prometheus_query(url, timeout)
    context = get_context(ctx)
    if watch:
        _watch(context, lambda: evaluate(query, spec, window), url, interval)
        return
    report = evaluate(query, spec, window)
    if json_out:
        context.emit_json({"prometheus": url, **report.to_json()})
    else:
        context.console.print(_table(report, url))
        context.console.print(_alerts(report))
    _verdict(report)
