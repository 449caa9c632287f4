"""What a URL must look like, checked before anything connects: shared by the spec (every Redis
URL, from the file, the environment or a flag) and the CLI's other URL flags, so all refuse alike."""

from __future__ import annotations

from urllib.parse import urlsplit

REDIS_SCHEMES = ("redis", "rediss", "unix")


def url_problem(value: str, schemes: tuple[str, ...]) -> str | None:
    """Why `value` is not a `scheme://host[:port]...` URL with one of `schemes`, or None."""
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
