"""W-TinyLFU in process (push/store/cache_policy.py): frequency keeps hot results through a scan
of one-off requests that flushes LRU, an ample cache is an unbounded one, and the TTL and the
capacity hold whatever the policy decides."""

from __future__ import annotations

import math
import random

import pytest

from diagops.bench.keys import zipf_trace
from diagops.bench.optimum import lru_hits, policy_hits, unbounded_hits
from diagops.push.store.cache_policy import (
    TINYLFU, CountMinSketch, LruCache, TinyLfuCache, TinyLfuParams, make_cache,
)


def hot_then_scan_then_hot(hot: int, scan: int) -> list[str]:
    warm = [f"hot-{i}" for _ in range(5) for i in range(hot)]
    return warm + [f"once-{i}" for i in range(scan)] + [f"hot-{i}" for i in range(hot)]


def test_a_scan_of_one_off_keys_does_not_evict_the_hot_ones() -> None:
    trace = hot_then_scan_then_hot(hot=10, scan=100)
    cache: TinyLfuCache[int] = TinyLfuCache(20)
    for key in trace[:-10]:
        if cache.get(key, 0.0) is None:
            cache.put(key, 1, math.inf, 0.0)
    assert all(cache.get(f"hot-{i}", 0.0) == 1 for i in range(10))
    # LRU, same trace and capacity: the scan flushed every hot key
    assert lru_hits(trace, 20) == 40 and policy_hits("tinylfu", trace, 20) == 50


@pytest.mark.parametrize("seed", range(3))
def test_tinylfu_beats_lru_on_a_skewed_trace_polluted_by_scans(seed: int) -> None:
    rng = random.Random(seed)
    trace: list[object] = []
    for chunk in range(10):
        trace += zipf_trace(300, 100, 1.0, seed=seed * 100 + chunk)
        trace += [f"scan-{chunk}-{i}" for i in range(rng.randrange(20, 60))]
    for capacity in (10, 25, 50):
        assert policy_hits("tinylfu", trace, capacity) > 1.1 * lru_hits(trace, capacity), capacity


@pytest.mark.parametrize("seed", range(3))
def test_an_ample_tinylfu_cache_is_an_unbounded_one(seed: int) -> None:
    trace = zipf_trace(2000, 150, 1.1, seed)
    distinct = len(set(trace))
    assert policy_hits("tinylfu", trace, distinct) == unbounded_hits(trace) == len(trace) - distinct
    times = [i * 0.1 for i in range(len(trace))]
    assert policy_hits("tinylfu", trace, distinct + 5, times=times, ttl_s=30.0) == unbounded_hits(trace, times=times, ttl_s=30.0)


def test_an_entry_is_served_until_its_ttl_only() -> None:
    cache: TinyLfuCache[str] = TinyLfuCache(10)
    cache.put("k", "v", 10.0, 0.0)
    assert cache.get("k", 9.9) == "v"
    assert cache.get("k", 10.0) is None and len(cache) == 0


@pytest.mark.parametrize(("x_expires", "w_kept"), [(10.0, True), (1000.0, False)])
def test_an_expired_victim_gives_way_to_a_rarer_candidate(x_expires: float, w_kept: bool) -> None:
    cache: TinyLfuCache[str] = TinyLfuCache(2)  # window 1, main 1
    for _ in range(5):
        cache.get("x", 0.0)  # x: asked for five times, it wins any duel while it lives
    cache.put("x", "x", x_expires, 0.0)
    cache.get("w", 0.0)
    cache.put("w", "w", 100.0, 0.0)  # x leaves the window into the empty main
    cache.get("y", 20.0)
    cache.put("y", "y", 100.0, 20.0)  # w leaves the window and duels x
    assert (cache.get("w", 20.0) == "w") is w_kept
    assert (cache.get("x", 20.0) == "x") is not w_kept


def test_the_capacity_holds_whatever_the_trace() -> None:
    rng = random.Random(4)
    for capacity in (1, 2, 3, 7, 40):
        cache: TinyLfuCache[int] = TinyLfuCache(capacity)
        for i in range(3000):
            key = str(rng.choice([rng.randrange(10), rng.randrange(1000)]))
            if cache.get(key, i) is None:
                cache.put(key, i, i + rng.choice([5, 500]), i)
            assert len(cache) <= capacity
        assert len(cache.protected) <= cache.sizes.protected and len(cache.window) <= cache.sizes.window


def test_zero_capacity_stores_nothing() -> None:
    for policy in ("tinylfu", "lru"):
        cache = make_cache(policy, 0)
        cache.put("k", 1, math.inf, 0.0)
        assert cache.get("k", 0.0) is None and len(cache) == 0


def test_the_sketch_saturates_at_15_and_halves_after_its_sample() -> None:
    sizes = TinyLfuParams(sample_factor=10).sizes(4)  # 40 requests a sample
    sketch = CountMinSketch(sizes, counter_max=15)
    for _ in range(20):
        sketch.add("hot")
    assert sketch.estimate("hot") == 15 and sketch.estimate("cold") <= 15
    for i in range(20):  # the 40th request halves every counter
        sketch.add(f"other-{i}")
    assert sketch.estimate("hot") == 7 and sketch.samples == 20


def test_one_definition_of_the_sizes() -> None:
    assert TINYLFU.sizes(10) == TINYLFU.sizes(10)
    s = TINYLFU.sizes(10_000)
    assert (s.window, s.main, s.protected, s.depth, s.sample_size) == (100, 9_900, 7_920, 4, 100_000)
    assert s.width == 65_536 and TINYLFU.sizes(10).window == 1
    with pytest.raises(ValueError, match="at least 1"):
        TINYLFU.sizes(0)


def test_an_unknown_policy_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="one of tinylfu, lru, not 'fifo'"):
        make_cache("fifo", 10)
    assert isinstance(make_cache("lru", 3), LruCache)


def test_the_spec_offers_exactly_the_policies_there_are() -> None:
    from typing import get_args

    from diagops.push.store.cache_policy import POLICIES
    from diagops.spec.model import CacheSpec

    assert get_args(CacheSpec.model_fields["policy"].annotation) == POLICIES
    assert CacheSpec().policy == "tinylfu"
