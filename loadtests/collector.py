"""The load test's own tally: latency histograms and counters, mergeable as JSON.

Every generator process keeps one `Collector`. Locust's statistics get the same
events (for its UI, CSV and HTML), but the verdict is computed from these
figures, because Locust rounds latencies and its final worker reports can miss
the last samples. A worker ships its whole collector to the master
once its users have stopped; the master merges them and writes the raw result.
"""

from __future__ import annotations

from typing import Any

from diagops.loadtests.histogram import Histogram

# Latency kinds, in the order tables show them. Delivery latency (receive time
# minus the event's server timestamp) for live pushes: progress, complete,
# error; replay: events stored before we subscribed; connect: WebSocket
# handshake; diagnosis: POST to final event; ping: application ping round trip.
LATENCY_KINDS = ("progress", "complete", "error", "replay", "connect", "diagnosis", "ping")
DELIVERY_KINDS = ("progress", "complete", "error")

COUNTERS = (
    "diagnoses_started",  # POST answered 202
    "diagnoses_completed",  # final `complete` with an intact stream
    "diagnoses_errored",  # final `error` event
    "diagnoses_timed_out",  # no final event within the final timeout
    "diagnoses_start_failed",  # POST failed or answered other than 202 (busy refusals apart)
    "diagnoses_refused",  # every start refused as busy until the final timeout: given up
    "start_refused_overloaded",  # start answers 503 overloaded (each retried after Retry-After)
    "start_refused_too_many_diagnoses",  # start answers 429 too_many_diagnoses (each retried)
    "diagnoses_broken",  # reached a final event but with a gap or duplicate on the way
    "diagnoses_interrupted",  # cut short by the end of the run (not judged)
    "diagnoses_cached",  # the service answered from its cache
    "events_received",
    "events_live",
    "events_replayed",
    "gaps",
    "events_lost",
    "duplicates",
    "connects",
    "connect_failures",
    "reconnects",
    "resubscribes",  # executions followed again after a reconnect, from their last_seq
    "server_pings",
    "pings_sent",
    "pongs",
    "frame_errors",
)


class Collector:
    """Counters and histograms for one generator process (or, merged, for the whole run)."""

    def __init__(self) -> None:
        self.latency: dict[str, Histogram] = {kind: Histogram() for kind in LATENCY_KINDS}
        self.counts: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.disconnects: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self.open_sockets = 0
        self.peak_open_sockets = 0
        self._window = Histogram()
        self._window_events = 0
        self._window_failures = 0

    # -- recording (called from the socket client) --------------------------------

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def latency_of(self, kind: str, seconds: float) -> None:
        self.latency[kind].record(seconds)
        if kind == "progress":
            self._window.record(seconds)

    def event_received(self) -> None:
        self.counts["events_received"] += 1
        self._window_events += 1

    def failure(self, reason: str) -> None:
        """A failure as Locust shows it, keyed by a short reason (not by execution)."""
        self.failures[reason] = self.failures.get(reason, 0) + 1
        self._window_failures += 1

    def disconnected(self, reason: str) -> None:
        self.disconnects[reason] = self.disconnects.get(reason, 0) + 1

    def socket_opened(self) -> None:
        self.open_sockets += 1
        self.peak_open_sockets = max(self.peak_open_sockets, self.open_sockets)

    def socket_closed(self) -> None:
        self.open_sockets -= 1

    # -- live window (the rich view and the time series) ---------------------------

    def take_window(self) -> dict[str, Any]:
        """What happened since the last call: progress latencies, events, failures; then reset."""
        window = {
            "progress": self._window.to_dict(),
            "events": self._window_events,
            "failures": self._window_failures,
            "open_sockets": self.open_sockets,
        }
        self._window = Histogram()
        self._window_events = 0
        self._window_failures = 0
        return window

    # -- transport -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency": {kind: hist.to_dict() for kind, hist in self.latency.items()},
            "counts": dict(self.counts),
            "disconnects": dict(self.disconnects),
            "failures": dict(self.failures),
            "peak_open_sockets": self.peak_open_sockets,
        }

    def merge_dict(self, data: dict[str, Any]) -> None:
        """Add another process's `to_dict()` into this one."""
        for kind, hist in data.get("latency", {}).items():
            self.latency.setdefault(kind, Histogram()).merge(Histogram.from_dict(hist))
        for name, n in data.get("counts", {}).items():
            self.counts[name] = self.counts.get(name, 0) + int(n)
        for reason, n in data.get("disconnects", {}).items():
            self.disconnects[reason] = self.disconnects.get(reason, 0) + int(n)
        for reason, n in data.get("failures", {}).items():
            self.failures[reason] = self.failures.get(reason, 0) + int(n)
        # Peaks of different processes happen at about the same time in a ramp-up;
        # their sum is an upper bound the time series refines.
        self.peak_open_sockets += int(data.get("peak_open_sockets", 0))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Collector:
        merged = cls()
        merged.merge_dict(data)
        return merged
