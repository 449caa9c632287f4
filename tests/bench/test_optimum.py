"""The offline references: Belady is the optimum (checked against brute force), never below LRU,
and equal to the unbounded cache once it holds every key."""

from __future__ import annotations

import functools
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diagops.bench.optimum import belady_hits, lru_hits, unbounded_hits


def brute_force_hits(trace: tuple[str, ...], capacity: int, times: tuple[float, ...] | None = None,
                     ttl_s: float | None = None) -> int:
    """Every choice of what to keep after every request (bypass allowed), the best kept."""

    @functools.lru_cache(maxsize=None)
    def best(i: int, cache: frozenset[tuple[str, float]]) -> int:
        if i == len(trace):
            return 0
        now = times[i] if times else 0.0
        live = frozenset((k, e) for k, e in cache if e > now)
        held = {k: e for k, e in live}
        hit = trace[i] in held
        entry = (trace[i], held[trace[i]] if hit else (now + ttl_s if ttl_s is not None else float("inf")))
        pool = (live - {entry}) if hit else live
        options = [frozenset(c) | {entry} for r in range(min(capacity - 1, len(pool)) + 1)
                   for c in itertools.combinations(sorted(pool), r)]
        options += [frozenset(c) for c in itertools.combinations(sorted(pool), min(capacity, len(pool)))]
        return int(hit) + max(best(i + 1, o) for o in options)

    return best(0, frozenset())


traces = st.lists(st.sampled_from("abcde"), min_size=1, max_size=10).map(tuple)


@settings(max_examples=150, deadline=None)
@given(trace=traces, capacity=st.integers(1, 3))
def test_belady_matches_brute_force_on_tiny_traces(trace, capacity):
    assert belady_hits(trace, capacity) == brute_force_hits(trace, capacity)


@settings(max_examples=100, deadline=None)
@given(trace=traces, capacity=st.integers(1, 3), ttl=st.sampled_from([1.5, 3.5, 6.0]))
def test_belady_with_expiry_matches_brute_force(trace, capacity, ttl):
    times = tuple(float(i) for i in range(len(trace)))
    assert belady_hits(trace, capacity, times=times, ttl_s=ttl) == brute_force_hits(trace, capacity, times, ttl)


@pytest.mark.parametrize("seed", range(5))
def test_belady_is_never_below_lru_and_equals_unbounded_once_everything_fits(seed):
    rng = random.Random(seed)
    trace = [rng.randrange(30) for _ in range(500)]
    for capacity in (1, 5, 10, 29):
        assert belady_hits(trace, capacity) >= lru_hits(trace, capacity)
        assert belady_hits(trace, capacity) <= unbounded_hits(trace)
    assert belady_hits(trace, 30) == unbounded_hits(trace) == lru_hits(trace, 30) == 500 - len(set(trace))


def test_no_cache_hits_nothing():
    assert belady_hits("aaaa", 0) == lru_hits("aaaa", 0) == 0
    assert belady_hits("aaaa", 2, times=[0, 1, 2, 3], ttl_s=0) == 0


def test_expiry_counts_from_when_the_entry_was_stored():
    # stored at 0, expires at 2.5: the hit at 1 does not extend it, so the request at 3 misses.
    assert lru_hits("aaa", 1, times=[0, 1, 3], ttl_s=2.5) == 1
    assert belady_hits("aaa", 1, times=[0, 1, 3], ttl_s=2.5) == 1
    assert unbounded_hits("aaa", times=[0, 1, 3], ttl_s=2.5) == 1


def test_times_and_ttl_go_together():
    with pytest.raises(ValueError):
        belady_hits("ab", 1, times=[0, 1])
