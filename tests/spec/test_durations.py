"""The one duration parser: what the CLI's flags accept, and the Prometheus form the spec's windows take."""

from __future__ import annotations

import pytest

from diagops.spec.durations import duration_seconds, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("1.5", 1.5), ("90s", 90), ("15m", 900), ("1h", 3600), ("7d", 604800), ("2w", 1209600),
    ("250ms", 0.25), ("1h30m", 5400), ("1.5m", 90), ("1m30s", 90), ("2M", 120), (" 15m ", 900), ("1h 30m", 5400),
    ("15 m", 900), ("0s", 0),
])
def test_a_duration_reads_as_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", " ", "abc", "10x", "5m10", "-3s", "1.s", "s", "h1", "1e3s", "1,5m"])
def test_anything_else_is_refused_with_the_text_quoted(text: str) -> None:
    with pytest.raises(ValueError, match=f"not a duration: {text!r}"):
        parse_duration(text)


@pytest.mark.parametrize(("value", "seconds"), [
    ("5m", 300), ("1h", 3600), ("3d", 259200), ("160s", 160), ("1w", 604800), ("500ms", 0.5),
])
def test_a_prometheus_duration_reads_as_seconds(value: str, seconds: float) -> None:
    assert duration_seconds(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["1h30m", "1.5m", "90", "5M", " 5m", "5 m"])
def test_the_prometheus_form_is_one_whole_number_and_one_unit(value: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        duration_seconds(value)
