"""One-shot questions to a server: what HTTP status it answers, whether a TCP port accepts."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request


def http_status(url: str, timeout_s: float = 1.0) -> int | None:
    """The HTTP status of GET `url` (error statuses included), or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (http on loopback, ours)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def port_accepts(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    """Whether a TCP connection to host:port is accepted (something listens there)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
