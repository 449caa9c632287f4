"""Load the spec for a command, turning spec errors into the CLI's usage error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from diagops.cli.context import EXIT_USAGE, CommandError
from diagops.spec import Spec, SpecError, load_spec


def load_for_command(config: Path | None, overrides: dict[str, Any] | None = None) -> Spec:
    try:
        return load_spec(config, overrides=overrides)
    except SpecError as exc:
        raise CommandError(f"config: {exc}", EXIT_USAGE) from None


def resolve_secret(spec: Spec, secret_file: Path | None = None) -> str | None:
    """The JWT secret: --jwt-secret-file, then auth.jwt_secret (DIAGOPS_JWT_SECRET), then auth.jwt_secret_file."""
    from diagops.push.auth import read_secret_file

    path = secret_file or (None if spec.auth.jwt_secret else spec.auth.jwt_secret_file)
    if path is None:
        return spec.auth.jwt_secret
    try:
        return read_secret_file(path)
    except FileNotFoundError:
        raise CommandError(f"JWT secret file {path}: no such file", EXIT_USAGE) from None
    except (OSError, ValueError) as exc:
        raise CommandError(f"JWT secret file {path}: {getattr(exc, 'strerror', None) or exc}", EXIT_USAGE) from None


def duration_flag(flag: str, text: str | None, parse: Callable[[str], float] | None = None) -> float | None:
    """A duration flag's seconds (None when not given); a bad value is a usage error naming the flag."""
    if text is None:
        return None
    from diagops.spec.durations import parse_duration

    try:
        return (parse or parse_duration)(text)
    except ValueError as exc:
        raise CommandError(f"{flag}: {exc}", EXIT_USAGE) from None
