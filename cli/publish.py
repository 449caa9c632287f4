"""`diagops publish`: post one event as an engine would, for scripts and by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from diagops.cli.config import load_for_command
from diagops.cli.context import EXIT_ENVIRONMENT, EXIT_USAGE, CommandError, get_context
from diagops.cli.watch import URL_HELP, _token, service_url


def register(app: typer.Typer) -> None:
    app.command("publish", short_help="Publish one event to an execution.")(publish)


def publish(
    ctx: typer.Context,
    execution_id: str = typer.Argument(..., help="The execution the event belongs to."),
    event: str = typer.Option(..., "--event", "-e", help="progress, complete or error."),
    data: str = typer.Option("{}", "--data", "-d", help="The event's data, a JSON object."),
    owner: Optional[str] = typer.Option(None, "--owner", help="The user it belongs to (required on its first event)."),
    lang: Optional[str] = typer.Option(None, "--lang", help="zh or en, on the first event."),
    url: Optional[str] = typer.Option(None, "--url", envvar="DIAGOPS_URL", help=URL_HELP),
    token: Optional[str] = typer.Option(None, "--token", help="A token with scope publish (default: DIAGOPS_TOKEN, "
                                        "else one minted for user 'engine' with the configured secret)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c"),
    as_json: bool = typer.Option(False, "--json", help="Print {execution_id, seq} as JSON."),
) -> None:
    """Publish one event through the batch API (retried with an idempotency key, stored once);
    prints its seq. Exit 2 when the service refuses it, 3 when it cannot be reached."""
    from diagops.push.strict_json import InvalidJson, parse

    try:
        body = parse(data)
    except InvalidJson as exc:
        raise CommandError(f"--data is not JSON: {exc}", EXIT_USAGE) from None
    if not isinstance(body, dict):
        raise CommandError("--data must be a JSON object", EXIT_USAGE)
    spec = load_for_command(config)
    token = _token(token, "engine", spec, scopes=("publish",))
    seq = _publish(service_url(url, spec), token, execution_id, event, body, owner, lang)
    context = get_context(ctx)
    if as_json:
        context.emit_json({"execution_id": execution_id, "seq": seq})
    else:
        context.console.print(f"{execution_id} seq {seq}", highlight=False)


def _publish(url: str, token: str, execution_id: str, event: str, data: dict[str, Any], owner: Optional[str],
             lang: Optional[str]) -> int:
    import asyncio

    from diagops.push.publishing import PublishFailed, RemotePublisher

    async def one() -> int:
        async with RemotePublisher(url, token, linger_s=0.0, retry_pauses_s=(0.2, 0.5, 1.0)) as publisher:
            return await publisher.publish(execution_id, event, data, owner=owner, lang=lang)

    try:
        return asyncio.run(one())
    except PublishFailed as exc:
        if exc.status is None:
            raise CommandError(f"the service at {url} could not take the event: {exc}", EXIT_ENVIRONMENT) from None
        raise CommandError(f"refused ({exc.status} {exc.code}): {exc}", EXIT_USAGE) from None
