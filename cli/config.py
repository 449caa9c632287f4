"""Load the spec for a command, turning spec errors into the CLI's usage error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from diagops.cli.context import EXIT_USAGE, CommandError
from diagops.spec import Spec, SpecError, load_spec


def load_for_command(config: Path | None, flags: dict[str, tuple[str, Any]] | None = None) -> Spec:
    """The spec with the command's flags on top: `flags` maps a dotted key to (the flag, its value,
    None when not given), so that a bad value is reported against the flag that carried it."""
    flags = flags or {}
    try:
        return load_spec(config, overrides={key: value for key, (_, value) in flags.items()},
                         override_sources={key: flag for key, (flag, _) in flags.items()})
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
