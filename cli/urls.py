"""What a URL given on the command line must look like, checked before anything connects.

A malformed URL is the caller's to fix (exit 2), not an unreachable service (3) or a bug (70),
so every command that takes one checks it here, naming the flag. (`--redis-url` is checked by
the spec, which checks every Redis URL wherever it came from.)
"""

from __future__ import annotations

from diagops.cli.context import EXIT_USAGE, CommandError

HTTP_SCHEMES = ("http", "https")


def checked_url(value: str, flag: str, schemes: tuple[str, ...] = HTTP_SCHEMES) -> str:
    """`value` unchanged when it is a `scheme://host[:port]...` URL with one of `schemes`."""
    from diagops.spec.urls import url_problem  # here, not at import: `--help` must not load the spec

    problem = url_problem(value, schemes)
    if problem:
        raise CommandError(f"{flag} {value!r} is not a URL: {problem} (e.g. {schemes[0]}://127.0.0.1:8765)", EXIT_USAGE)
    return value
