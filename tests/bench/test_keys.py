"""The request streams: Zipf's rank frequencies fit its exponent; traces are checked like any input."""

from __future__ import annotations

from collections import Counter

import pytest

from diagops.bench.keys import TraceError, fit_zipf_exponent, read_trace, request_body, uniform_trace, zipf_trace


@pytest.mark.parametrize("alpha", [0.8, 1.1, 1.5])
def test_zipf_rank_frequencies_fit_the_exponent(alpha):
    trace = zipf_trace(50_000, 500, alpha, seed=7)
    assert fit_zipf_exponent(trace, top=50) == pytest.approx(alpha, abs=0.08)
    counts = Counter(trace)
    assert counts[0] > counts[1] > counts[9]  # rank 0 is the most popular


def test_zipf_is_seeded_and_in_range():
    assert zipf_trace(1000, 20, 1.1, seed=3) == zipf_trace(1000, 20, 1.1, seed=3)
    assert set(zipf_trace(5000, 20, 1.1, seed=3)) <= set(range(20))


def test_uniform_is_flat():
    counts = Counter(uniform_trace(40_000, 20, seed=1))
    assert len(counts) == 20 and max(counts.values()) / min(counts.values()) < 1.2
    assert fit_zipf_exponent(uniform_trace(40_000, 20, seed=1)) == pytest.approx(0, abs=0.1)


def test_a_trace_is_one_request_per_line(tmp_path):
    path = tmp_path / "trace.txt"
    path.write_text('# recorded\nAcme\n\n{"brand": "Acme", "platforms": ["qwen"]}\nAcme\n', encoding="utf-8")
    keys = read_trace(path)
    assert keys == ["Acme", '{"brand": "Acme", "platforms": ["qwen"]}', "Acme"]
    assert request_body(keys[1], "s1") == {"brand": "Acme s1", "platforms": ["qwen"]}
    assert request_body(keys[0], "s1") != request_body(keys[0], "s2")  # every run starts cold


@pytest.mark.parametrize(("text", "words"), [
    ("", "no requests"), ('{"brand": 1}\n', "needs a string 'brand'"), ('{"brand": NaN}\n', "line 1"),
])
def test_a_bad_trace_names_the_file_and_line(tmp_path, text, words):
    path = tmp_path / "trace.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TraceError, match=words):
        read_trace(path)
