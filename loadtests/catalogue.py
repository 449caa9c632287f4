"""The brands simulated users ask about, skewed as real traffic is (Zipf).

A few brands are asked about often and many rarely, so the service's result cache answers the
popular ones: the hit ratio a run sees comes from the traffic's shape, and the cache objective
judges it, instead of a fixed share of requests that are made to repeat. Plain Python: the CLI
plans with it, the Locust generator draws from it.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BrandCatalogue:
    """`size` brands named `<prefix>-brand-<k>`; the k-th is drawn 1/k^skew as often as the first."""

    prefix: str
    size: int
    skew: float
    _cumulative: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weights = (1.0 / k**self.skew for k in range(1, self.size + 1))
        object.__setattr__(self, "_cumulative", tuple(itertools.accumulate(weights)))

    def draw(self, rng: random.Random | None = None) -> str:
        k = (rng or random).choices(range(1, self.size + 1), cum_weights=self._cumulative)[0]
        return f"{self.prefix}-brand-{k}"
