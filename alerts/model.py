"""The domain model the generators produce and the renderers consume: rules, alerts, groups."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Runbook:
    """What a person paged at 3 a.m. needs: what it means, who suffers, what to look at, what to do."""

    meaning: str
    impact: str
    diagnose: tuple[str, ...]
    mitigate: tuple[str, ...]


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    severity: str  # "critical" pages a human, "warning" opens a ticket
    summary: str
    description: str
    runbook: Runbook
    for_: str = "0s"
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Group:
    name: str
    rules: tuple[Recording | Alert, ...]

    @property
    def alerts(self) -> tuple[Alert, ...]:
        return tuple(r for r in self.rules if isinstance(r, Alert))

    @property
    def recordings(self) -> tuple[Recording, ...]:
        return tuple(r for r in self.rules if isinstance(r, Recording))
