"""Durations as people and Prometheus write them, read in one place.

`parse_duration` reads what the CLI's flags take (`90`, `90s`, `15m`, `1h30m`,
`1.5m`, `7d`, `250ms`); `duration_seconds` reads the stricter Prometheus form
that rule windows and `for:` accept (a whole number and one unit: `5m`, `1h`).
"""

from __future__ import annotations

import re

UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
# A Prometheus duration with one unit ("5m", "1h", "3d"): what rule windows and `for:` accept.
PROMETHEUS_DURATION = r"^[0-9]+(ms|s|m|h|d|w)$"
_SPAN = r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)"  # "ms" before "m": the longest unit wins
_SPANS = re.compile(rf"\s*(?:{_SPAN}\s*)+")
EXAMPLES = "e.g. 90s, 15m, 1h30m, 7d"


def parse_duration(text: str) -> float:
    """Seconds from `60` (a bare number is seconds), `90s`, `2m`, `1h30m`, `1.5m`, `7d`; a
    ValueError that quotes the text otherwise. Units are case-blind; zero is a duration too,
    callers that need more say so."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    if not _SPANS.fullmatch(value):
        raise ValueError(f"not a duration: {text!r} (use {EXAMPLES})")
    return sum(float(number) * UNIT_SECONDS[unit] for number, unit in re.findall(_SPAN, value))


def duration_seconds(value: str) -> float:
    """Seconds in a one-unit Prometheus duration; generators compare and divide windows with it."""
    if re.fullmatch(PROMETHEUS_DURATION, value) is None:
        raise ValueError(f"not a Prometheus duration: {value!r} (e.g. 5m, 1h)")
    return parse_duration(value)
