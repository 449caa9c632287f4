"""Offline references for a cache of a given size on a given trace.

`belady_hits` is the offline optimum (Belady's MIN: on a miss with the cache full, drop
the entry, the newcomer included, whose next use is farthest away); no online policy can
hit more often on the same trace and capacity. With a TTL an entry cannot serve a use
after it expires (entries expire a fixed time after they were stored, as the service's
do), so such a use counts as "never" when choosing what to drop. `unbounded_hits` is the
ratio an infinite cache reaches: only first requests (and expiries) miss. `lru_hits` and
`tinylfu_hits` run the service's own cache classes offline (push/store/cache_policy.py: one
implementation, not a second copy here), for comparison with what the service achieved.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Sequence

from diagops.push.store.cache_policy import ResultCache, make_cache

NEVER = math.inf


def _next_uses(trace: Sequence[Hashable]) -> list[float]:
    """For each position, the position of the same key's next request (NEVER if none)."""
    upcoming: dict[Hashable, int] = {}
    result: list[float] = [NEVER] * len(trace)
    for i in range(len(trace) - 1, -1, -1):
        result[i] = upcoming.get(trace[i], NEVER)
        upcoming[trace[i]] = i
    return result


def _usable_next(next_uses: list[float], times: Sequence[float] | None, i: int, expires: float) -> float:
    """The next use of the key requested at i, or NEVER when it falls after the entry expires."""
    nxt = next_uses[i]
    if nxt is NEVER or times is None or times[int(nxt)] < expires:
        return nxt
    return NEVER


def belady_hits(trace: Sequence[Hashable], capacity: int, *, times: Sequence[float] | None = None,
                ttl_s: float | None = None) -> int:
    """Hits of the offline-optimal cache of `capacity` entries (bypass allowed), O(n log n).
    `times` (seconds, one per request) and `ttl_s` add expiry; without them entries never expire."""
    if capacity <= 0 or (ttl_s is not None and ttl_s <= 0):
        return 0
    if (times is None) != (ttl_s is None):
        raise ValueError("times and ttl_s go together")
    next_uses = _next_uses(trace)
    cached: dict[Hashable, tuple[float, float]] = {}  # key -> (next usable use, expiry)
    heap: list[tuple[float, int, Hashable]] = []  # (-next use, tiebreak, key), stale rows skipped
    hits = 0
    for i, key in enumerate(trace):
        now = times[i] if times is not None else 0.0
        entry = cached.pop(key, None)  # re-added below with its next use, if it has one
        if entry is not None and entry[0] == i:
            hits += 1
            expires = entry[1]
        else:
            expires = now + ttl_s if ttl_s is not None else NEVER
        nxt = _usable_next(next_uses, times, i, expires)
        if nxt is NEVER:
            continue  # never useful again: keeping it could only displace something that is
        cached[key] = (nxt, expires)
        heapq.heappush(heap, (-nxt, i, key))
        while len(cached) > capacity:
            neg, _, victim = heapq.heappop(heap)
            if victim in cached and cached[victim][0] == -neg:
                del cached[victim]
    return hits


def unbounded_hits(trace: Sequence[Hashable], *, times: Sequence[float] | None = None,
                   ttl_s: float | None = None) -> int:
    """Hits of a cache that never evicts: every request but a key's first (or first after expiry)."""
    return lru_hits(trace, len(set(trace)) or 1, times=times, ttl_s=ttl_s)


def policy_hits(policy: str, trace: Sequence[Hashable], capacity: int, *, times: Sequence[float] | None = None,
                ttl_s: float | None = None) -> int:
    """Hits of the service's own cache class for `policy` (push/store/cache_policy.py, the one the
    memory store runs) on `trace`, each result stored the moment it missed with a fixed expiry. The
    service stores a result only once its diagnosis finishes, so a twin request meanwhile misses:
    it usually does a little worse (with W-TinyLFU, whose choices depend on the order of requests
    and stores, it can also land a few hits either side)."""
    if capacity <= 0 or (ttl_s is not None and ttl_s <= 0):
        return 0
    if (times is None) != (ttl_s is None):
        raise ValueError("times and ttl_s go together")
    cache: ResultCache[bool] = make_cache(policy, capacity)
    hits = 0
    for i, key in enumerate(trace):
        now = times[i] if times is not None else 0.0
        name = str(key)
        if cache.get(name, now) is not None:
            hits += 1
        else:
            cache.put(name, True, now + ttl_s if ttl_s is not None else NEVER, now)
    return hits


def lru_hits(trace: Sequence[Hashable], capacity: int, *, times: Sequence[float] | None = None,
             ttl_s: float | None = None) -> int:
    """Hits of LRU (`cache.policy: lru`, the policy before W-TinyLFU), as `policy_hits`."""
    return policy_hits("lru", trace, capacity, times=times, ttl_s=ttl_s)


def tinylfu_hits(trace: Sequence[Hashable], capacity: int, *, times: Sequence[float] | None = None,
                 ttl_s: float | None = None) -> int:
    """Hits of W-TinyLFU (`cache.policy: tinylfu`, the default), as `policy_hits`."""
    return policy_hits("tinylfu", trace, capacity, times=times, ttl_s=ttl_s)
