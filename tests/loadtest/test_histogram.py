"""The histogram behind every latency figure: percentiles within its 2 % bucket width of the exact ones."""

from __future__ import annotations

import random

import pytest

from diagops.loadtests.histogram import Histogram


def exact(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-int(fraction * 1000) * len(ordered) // 1000) - 1)]


@pytest.mark.parametrize("fraction", [0.5, 0.95, 0.99])
def test_percentiles_are_within_two_percent_of_the_exact_ones(fraction: float) -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(-7, 1.2) for _ in range(20_000)]  # ~1 ms median, sub-ms to ~50 ms
    hist = Histogram()
    for v in values:
        hist.record(v)
    assert hist.percentile(fraction) == pytest.approx(exact(values, fraction), rel=0.02)


def test_max_and_min_are_exact_and_negative_values_count_as_zero() -> None:
    hist = Histogram()
    for v in (0.0042, -0.001, 0.5):
        hist.record(v)
    assert (hist.minimum, hist.maximum, hist.count) == (0.0, 0.5, 3)
    assert hist.percentile(1.0) == 0.5
    assert hist.percentile(0.01) == 0.0


def test_merging_two_halves_equals_recording_everything_in_one() -> None:
    rng = random.Random(3)
    values = [rng.uniform(0.0001, 2.0) for _ in range(5000)]
    whole, first, second = Histogram(), Histogram(), Histogram()
    for i, v in enumerate(values):
        whole.record(v)
        (first if i % 2 else second).record(v)
    merged = Histogram.from_dict(first.to_dict())
    merged.merge(Histogram.from_dict(second.to_dict()))
    assert merged.summary() == pytest.approx(whole.summary())


def test_an_empty_histogram_has_no_percentiles() -> None:
    assert Histogram().percentile(0.95) is None
    assert Histogram.from_dict(Histogram().to_dict()).summary()["p99"] is None
