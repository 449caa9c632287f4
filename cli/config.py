"""Load the spec for a command, turning spec errors into the CLI's usage error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diagops.cli.context import EXIT_USAGE, CommandError

if TYPE_CHECKING:  # imported when a command runs: the models are most of `--help`'s start-up time
    from diagops.spec import Spec


def load_for_command(config: Path | None, flags: dict[str, tuple[str, Any]] | None = None) -> Spec:
    """The spec with the command's flags on top: `flags` maps a dotted key to (the flag, its value,
    None when not given), so that a bad value is reported against the flag that carried it."""
    from diagops.spec import SpecError, load_spec

    flags = flags or {}
    try:
        return load_spec(config, overrides={key: value for key, (_, value) in flags.items()},
                         override_sources={key: flag for key, (flag, _) in flags.items()})
    except SpecError as exc:
        raise CommandError(f"config: {exc}", EXIT_USAGE) from None


# RFC 7518 3.2: an HMAC key at least as long as the hash; shorter ones can be brute-forced.
MIN_SECRET_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}


def _long_enough(secret: str | None, algorithm: str, source: str) -> str | None:
    if secret is None:
        return None
    size, need = len(secret.encode()), MIN_SECRET_BYTES[algorithm]
    if size < need:
        raise CommandError(f"{source}: the secret is {size} bytes; {algorithm} needs at least {need} "
                           f"(e.g. head -c {need} /dev/urandom | base64)", EXIT_USAGE)
    return secret


def resolve_secret(spec: Spec, secret_file: Path | None = None) -> str | None:
    """The JWT secret: --jwt-secret-file, then auth.jwt_secret (DIAGOPS_JWT_SECRET), then auth.jwt_secret_file."""
    from diagops.push.auth import read_secret_file

    path = secret_file or (None if spec.auth.jwt_secret else spec.auth.jwt_secret_file)
    if path is None:
        return _long_enough(spec.auth.jwt_secret, spec.auth.algorithm, "DIAGOPS_JWT_SECRET (auth.jwt_secret)")
    try:
        return _long_enough(read_secret_file(path), spec.auth.algorithm, f"JWT secret file {path}")
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
