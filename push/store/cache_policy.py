"""The result cache's eviction policies, in-process: `lru` and `tinylfu` (W-TinyLFU).

Why W-TinyLFU: requests follow a skewed (Zipf-like) popularity, and LRU lets every one-off
request push out a popular result; `diagops bench cache --sweep capacity` measured LRU at
58-85 % of Belady's offline optimum at 10-50 entries over ~180 distinct requests. W-TinyLFU
(Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache Admission Policy", 2017; the
policy of Caffeine and theine) keeps a small LRU *window* for newcomers and a segmented-LRU
*main* region (probation, then protected once hit again). A candidate leaving the window
enters main only if a count-min sketch of recent request frequencies says it is asked for
more often than main's victim, so a burst of one-off keys passes through the window without
evicting the hot ones. The sketch's 4-bit counters are halved every `sample_factor` x
capacity requests, so yesterday's popularity fades.

`TINYLFU` is the one definition of the parameters: the memory store and the offline
simulator (`bench/optimum.py`) run `TinyLfuCache` itself, and the Redis store passes
`TINYLFU.sizes(capacity)` to redis_tinylfu_*.lua, which runs the same steps with the same
hash (SHA-1 of the key, `depth` 32-bit slices modulo the row width), so both stores hit
on the same requests. Not `theine`/`cachetools`: neither has a per-entry TTL with an
admission policy whose state could also live in Redis, and the Lua must match it step for
step anyway.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar, get_args

V = TypeVar("V")
Policy = Literal["tinylfu", "lru"]  # spec/model.py's CacheSpec.policy spells the same (a test holds them equal)
POLICIES: tuple[str, ...] = get_args(Policy)


@dataclass(frozen=True)
class TinyLfuSizes:
    """What one capacity means for W-TinyLFU; what the Lua scripts are given."""

    window: int  # entries of the LRU window (newcomers)
    main: int  # entries of the segmented LRU (probation + protected)
    protected: int  # at most this many of main's are protected
    width: int  # counters per sketch row (a power of two)
    depth: int  # sketch rows
    sample_size: int  # requests counted between two halvings of the sketch


@dataclass(frozen=True)
class TinyLfuParams:
    window_share: float = 0.01  # Caffeine's default: a 1 % window
    protected_share: float = 0.8  # of main: the segmented LRU's 20/80 split
    depth: int = 4  # count-min rows (the hash gives at most 5)
    counter_max: int = 15  # 4-bit counters (Redis: BITFIELD u4, OVERFLOW SAT)
    sample_factor: int = 10  # halve the counters after this many times capacity requests
    width_factor: int = 4  # counters per row at least capacity x this: 1 (Caffeine's) lost 1-2 points at 10-50 entries
    min_width: int = 16

    def sizes(self, capacity: int) -> TinyLfuSizes:
        if capacity < 1:
            raise ValueError("a W-TinyLFU cache needs a capacity of at least 1")
        window = max(1, round(capacity * self.window_share))
        main = capacity - window
        width = self.min_width
        while width < capacity * self.width_factor:
            width *= 2
        return TinyLfuSizes(window, main, int(main * self.protected_share), width, self.depth,
                            self.sample_factor * capacity)


TINYLFU = TinyLfuParams()


def sketch_slots(key: str, sizes: TinyLfuSizes) -> list[int]:
    """The key's counter in each row, as flat indexes (row * width + column): SHA-1's first
    `depth` 32-bit slices modulo the width, exactly as redis_tinylfu_*.lua computes them."""
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()
    return [row * sizes.width + int(digest[8 * row:8 * row + 8], 16) % sizes.width for row in range(sizes.depth)]


_HALVED = bytes(b >> 1 for b in range(256))


class CountMinSketch:
    """Approximate recent request counts: `depth` rows of saturating counters; an estimate is
    the smallest of a key's counters (collisions only ever add)."""

    def __init__(self, sizes: TinyLfuSizes, counter_max: int) -> None:
        self.sizes = sizes
        self.counter_max = counter_max
        self.counters = bytearray(sizes.width * sizes.depth)  # one counter a byte; Redis packs two
        self.samples = 0

    def add(self, key: str) -> None:
        for slot in sketch_slots(key, self.sizes):
            if self.counters[slot] < self.counter_max:
                self.counters[slot] += 1
        self.samples += 1
        if self.samples >= self.sizes.sample_size:
            self.counters = self.counters.translate(_HALVED)
            self.samples //= 2

    def estimate(self, key: str) -> int:
        return min(self.counters[slot] for slot in sketch_slots(key, self.sizes))


class ResultCache(Protocol[V]):
    """What the memory store and the offline simulator ask of a policy."""

    def get(self, key: str, now: float) -> V | None: ...

    def put(self, key: str, value: V, expires: float, now: float) -> None: ...

    def __len__(self) -> int: ...


class LruCache(Generic[V]):
    """Least recently used out first; the policy before W-TinyLFU (`cache.policy: lru`)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str, now: float) -> V | None:
        found = self.entries.get(key)
        if found is None:
            return None
        expires, value = found
        if now >= expires:
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return value

    def put(self, key: str, value: V, expires: float, now: float) -> None:
        if self.max_entries <= 0:
            return
        self.entries[key] = (expires, value)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)


class TinyLfuCache(Generic[V]):
    """W-TinyLFU (see the module docstring). Every `get` is a request the sketch counts; `put`
    stores a result in the window, and the window's oldest entry then either takes main's
    victim's place (it is asked for more often, or the victim expired) or is dropped."""

    def __init__(self, max_entries: int, params: TinyLfuParams = TINYLFU) -> None:
        self.max_entries = max_entries
        self.sizes = params.sizes(max(max_entries, 1))
        self.sketch = CountMinSketch(self.sizes, params.counter_max)
        self.window: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self.probation: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self.protected: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.window) + len(self.probation) + len(self.protected)

    def get(self, key: str, now: float) -> V | None:
        if self.max_entries <= 0:
            return None
        self.sketch.add(key)
        for segment in (self.window, self.probation, self.protected):
            found = segment.get(key)
            if found is None:
                continue
            if now >= found[0]:
                del segment[key]
                return None
            if segment is self.probation:  # asked for again: protected
                del segment[key]
                self.protected[key] = found
                if len(self.protected) > self.sizes.protected:
                    demoted, entry = self.protected.popitem(last=False)
                    self.probation[demoted] = entry
            else:
                segment.move_to_end(key)
            return found[1]
        return None

    def put(self, key: str, value: V, expires: float, now: float) -> None:
        if self.max_entries <= 0:
            return
        for segment in (self.window, self.probation, self.protected):
            if key in segment:  # stored again (two requests missed at once): refreshed where it is
                segment[key] = (expires, value)
                segment.move_to_end(key)
                return
        self.window[key] = (expires, value)
        if len(self.window) <= self.sizes.window:
            return
        candidate, entry = self.window.popitem(last=False)
        if len(self.probation) + len(self.protected) < self.sizes.main:
            self.probation[candidate] = entry
            return
        victims = self.probation or self.protected
        if not victims:
            return  # no main region (capacity 1): the window is the cache
        victim, (victim_expires, _) = next(iter(victims.items()))
        if now >= victim_expires or self.sketch.estimate(candidate) > self.sketch.estimate(victim):
            del victims[victim]
            self.probation[candidate] = entry


def make_cache(policy: str, max_entries: int) -> ResultCache[V]:
    """The cache `cache.policy` names; a clear error for any other name."""
    if policy == "tinylfu":
        return TinyLfuCache(max_entries)
    if policy == "lru":
        return LruCache(max_entries)
    raise ValueError(f"cache policy must be one of {', '.join(POLICIES)}, not {policy!r}")
