"""A target's `/metrics`, parsed: family names and types, and sample values by labels."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exposition:
    types: dict[str, str]  # family name (as exposed, counters without _total) -> type
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
        want = set(labels.items())
        return sum(v for (n, lbls), v in self.samples.items() if n == name and want <= set(lbls))


def parse_exposition(text: str) -> Exposition:
    """Raises ValueError on text that is not the Prometheus exposition format."""
    from prometheus_client.parser import text_string_to_metric_families

    types: dict[str, str] = {}
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return Exposition(types, samples)
