"""What a URL given on the command line must look like, checked before anything connects.

A malformed URL is the caller's to fix (exit 2), not an unreachable service (3) or a bug (70),
so every command that takes one checks it here, naming the flag.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from diagops.cli.context import EXIT_USAGE, CommandError

HTTP_SCHEMES = ("http", "https")
REDIS_SCHEMES = ("redis", "rediss", "unix")


def checked_url(value: str, flag: str, schemes: tuple[str, ...] = HTTP_SCHEMES) -> str:
    """`value` unchanged when it is a `scheme://host[:port]...` URL with one of `schemes`."""
    example = f"{schemes[0]}://127.0.0.1:6379/0" if schemes == REDIS_SCHEMES else "http://127.0.0.1:8765"
    problem = _problem(value, schemes)
    if problem:
        raise CommandError(f"{flag} {value!r} is not a URL: {problem} (e.g. {example})", EXIT_USAGE)
    return value


def _problem(value: str, schemes: tuple[str, ...]) -> str | None:
    try:
        parts = urlsplit(value)
        _ = parts.port  # reading it raises on a port that is not a number in range
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in schemes:
        return f"the scheme must be {' or '.join(s + '://' for s in schemes)}"
    if parts.scheme == "unix":
        return None if parts.path else "no socket path"
    if not parts.hostname:
        return "no host"
    return None
