"""One call per outcome, into both tables: Locust's statistics and this process's tally.

Locust's statistics feed its UI, CSV and HTML; the `Collector` feeds the
verdict (Locust rounds latencies and can miss a worker's last samples). Reporting each outcome once, here, keeps the two from drifting
apart: a failure Locust shows is a failure the tally counts, unless the tally
already holds it under another name.
"""

from __future__ import annotations

from dataclasses import dataclass

from locust.event import EventHook

from diagops.loadtests.collector import LATENCY_KINDS, Collector

REQUEST_TYPE = "WS"


class DiagnosisFailure(Exception):
    """A failure as Locust's failure table shows it: a short, stable message."""


@dataclass(frozen=True)
class Failure:
    """What went wrong, keyed for the tally and worded for Locust.

    `reason` is the tally's key (results.json `failures`): short and stable, so
    the table stays short. `detail` is Locust's message when it says more (a
    timeout's length). `tallied_elsewhere` marks a failure the tally already
    holds under another name (a diagnosis ended by an error event, which was
    counted when it arrived; a failed connect, counted as `connect_failures`),
    so one fault is not counted twice.
    """

    reason: str
    detail: str | None = None
    tallied_elsewhere: bool = False

    @property
    def message(self) -> str:
        return self.detail or self.reason


class Reporter:
    """Where one Locust user's (or socket's) outcomes go."""

    def __init__(self, request: EventHook, collector: Collector) -> None:
        self._request = request
        self.collector = collector

    def report(self, name: str, seconds: float, *, length: int = 0, failure: Failure | str | None = None,
               latency: bool = True, count: str | None = None) -> None:
        """Locust's entry (`WS`, `name`) and the tally, from one outcome.

        `seconds` is Locust's response time; the tally records it as a `name`
        latency unless `latency` is False: a wait that ran out (no pong, no final
        event, a refused connect) is not a latency, and a duplicate's was
        recorded when the event first came. `count` is the tally counter this
        outcome bumps.
        """
        failure = _as_failure(failure)
        self.tally(count, failure)
        if latency and name in LATENCY_KINDS:
            self.collector.latency_of(name, seconds)
        self._request.fire(
            request_type=REQUEST_TYPE,
            name=name,
            response_time=seconds * 1000.0,
            response_length=length,
            exception=None if failure is None else DiagnosisFailure(failure.message),
            context={},
        )

    def tally(self, count: str | None, failure: Failure | str | None = None) -> None:
        """The tally's half alone: for a request Locust's HTTP client reported itself (the start POST)."""
        failure = _as_failure(failure)
        if count is not None:
            self.collector.count(count)
        if failure is not None and not failure.tallied_elsewhere:
            self.collector.failure(failure.reason)


def _as_failure(failure: Failure | str | None) -> Failure | None:
    return Failure(failure) if isinstance(failure, str) else failure
