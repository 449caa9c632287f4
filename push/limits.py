"""Connection-rate limiting: a token bucket per client address."""

from __future__ import annotations


class RateLimiter:
    """`rate` new connections per second per address, with bursts up to `burst`."""

    def __init__(self, rate: float, burst: int, max_addresses: int = 100_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_addresses = max_addresses
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, address: str, now: float) -> bool:
        tokens, last = self._buckets.get(address, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[address] = (tokens, now)
            return False
        self._buckets[address] = (tokens - 1.0, now)
        if len(self._buckets) > self.max_addresses:
            self._forget_full(now)
        return True

    def _forget_full(self, now: float) -> None:
        """Drop addresses whose bucket has refilled: they would start full anyway."""
        for address, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate >= self.burst:
                del self._buckets[address]
