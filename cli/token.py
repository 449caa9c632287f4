"""`diagops token`: mint a JWT with the configured secret."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from diagops.cli.config import duration_flag, load_for_command, resolve_secret
from diagops.cli.context import EXIT_USAGE, CommandError, get_context


def register(app: typer.Typer) -> None:
    app.command("token", short_help="Print a user token for the service.")(token)


def ttl_seconds(text: str) -> float:
    """The token's lifetime from `--ttl` ('90', '90s', '15m', '1h', '7d'); a usage error otherwise."""
    seconds = duration_flag("--ttl", text)
    assert seconds is not None
    return seconds


def token(
    ctx: typer.Context,
    user: str = typer.Option(..., "--user", "-u", help="The token's subject (the user id)."),
    scope: list[str] = typer.Option(["subscribe"], "--scope", help="subscribe and/or publish (repeat the flag)."),
    ttl: str = typer.Option("1h", "--ttl", help="Lifetime, e.g. 15m, 1h, 7d."),
    lang: Optional[str] = typer.Option(None, "--lang", help="zh or en: the language of texts for this user."),
    config: Optional[Path] = typer.Option(None, "--config", "-c"),
    jwt_secret_file: Optional[Path] = typer.Option(None, "--jwt-secret-file"),
) -> None:
    """Print a token for `diagops serve` (secret: --jwt-secret-file or DIAGOPS_JWT_SECRET)."""
    scopes = [s for item in scope for s in item.replace(",", " ").split()]
    bad = sorted(set(scopes) - {"subscribe", "publish"})
    if bad:
        raise CommandError(f"unknown scope '{bad[0]}' (use subscribe or publish)", EXIT_USAGE)
    if lang is not None and lang not in ("zh", "en"):
        raise CommandError("--lang must be zh or en", EXIT_USAGE)
    spec = load_for_command(config)
    secret = resolve_secret(spec, jwt_secret_file)
    if secret is None:
        raise CommandError("no JWT secret configured: set DIAGOPS_JWT_SECRET or pass --jwt-secret-file", EXIT_USAGE)
    from diagops.push.auth import mint_token

    get_context(ctx).console.print(
        mint_token(secret, user, scopes, ttl_s=ttl_seconds(ttl), lang=lang, algorithm=spec.auth.algorithm),
        soft_wrap=True, highlight=False,
    )
