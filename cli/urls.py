"""What a URL given on the command line must look like, checked before anything connects.

A malformed URL is the caller's to fix (exit 2), not an unreachable service (3) or a bug (70),
so every command that takes one checks it here, naming the flag.
"""

from __future__ import annotations

from diagops.cli.context import EXIT_USAGE, CommandError
from diagops.spec.urls import HTTP_SCHEMES, REDIS_SCHEMES, url_problem

__all__ = ["HTTP_SCHEMES", "REDIS_SCHEMES", "checked_url"]


def checked_url(value: str, flag: str, schemes: tuple[str, ...] = HTTP_SCHEMES) -> str:
    """`value` unchanged when it is a `scheme://host[:port]...` URL with one of `schemes`."""
    example = f"{schemes[0]}://127.0.0.1:6379/0" if schemes == REDIS_SCHEMES else "http://127.0.0.1:8765"
    problem = url_problem(value, schemes)
    if problem:
        raise CommandError(f"{flag} {value!r} is not a URL: {problem} (e.g. {example})", EXIT_USAGE)
    return value
