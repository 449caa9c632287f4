"""Prometheus metrics with exactly the names of the wire contract (alert rules and dashboards query them).

Each app owns its registry, so several apps (tests, workers) never collide on
the global one. No label carries an execution or user id.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from diagops.push.metrics_env import MULTIPROCESS_ENV
from diagops.push.protocol import EVENTS
from diagops.spec.histograms import DURATION_BUCKETS, LATENCY_BUCKETS, STORE_BUCKETS

if TYPE_CHECKING:
    from diagops.push.store.base import StoreUsage

# `_created` series double the exposition and no rule reads them.
disable_created_metrics()

PREFIX = "diagops"
# MULTIPROCESS_ENV is set (before prometheus_client is imported) by `serve --workers N`: every
# worker then writes its samples to files there and any worker's /metrics answers for all of
# them, so a scrape that SO_REUSEPORT sends to a random worker still sees whole counters.


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.ws_connections = Gauge(f"{PREFIX}_ws_connections", "Open WebSocket connections.", registry=r,
                                    multiprocess_mode="livesum")
        self.ws_connections_opened = Counter(
            f"{PREFIX}_ws_connections_opened", "WebSocket connections accepted.", registry=r
        )
        self.ws_disconnections = Counter(
            f"{PREFIX}_ws_disconnections", "WebSocket connections closed, by reason.", ["reason"], registry=r
        )
        self.ws_refused = Counter(
            f"{PREFIX}_ws_refused", "WebSocket upgrades refused before opening, by reason.", ["reason"], registry=r
        )
        self.unfinished_closed = Counter(
            f"{PREFIX}_unfinished_connections_closed", "Connections closed before their request head was complete, "
            "by reason (timeout: past limits.request_head_timeout_s; limit: over limits.max_unfinished_connections).",
            ["reason"], registry=r,
        )
        self.push_latency = Histogram(
            f"{PREFIX}_push_latency_seconds", "From event accepted to frame written to the socket.",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.messages_sent = Counter(
            f"{PREFIX}_messages_sent", "diagnosis_update frames written, by event.", ["event"], registry=r
        )
        self.diagnoses = Counter(f"{PREFIX}_diagnoses", "Diagnoses that ended, by status.", ["status"], registry=r)
        self.diagnosis_duration = Histogram(
            f"{PREFIX}_diagnosis_duration_seconds", "From the first to the final event of a diagnosis.",
            buckets=DURATION_BUCKETS, registry=r,
        )
        self.errors = Counter(f"{PREFIX}_errors", "Diagnosis error events, by error_type.", ["error_type"], registry=r)
        self.cache_requests = Counter(
            f"{PREFIX}_cache_requests", "Result-cache lookups, by result (hit, miss).", ["result"], registry=r
        )
        self.auth_failures = Counter(
            f"{PREFIX}_auth_failures", "Refused tokens, by reason (missing, invalid, expired, scope).", ["reason"],
            registry=r,
        )
        self.heartbeat_timeouts = Counter(
            f"{PREFIX}_heartbeat_timeouts", "Clients closed for not answering pings.", registry=r
        )
        self.slow_consumer_disconnects = Counter(
            f"{PREFIX}_slow_consumer_disconnects", "Clients closed for not reading.", registry=r
        )
        self.store_operation = Histogram(
            f"{PREFIX}_store_operation_seconds", "Store call latency, by operation.", ["op"],
            buckets=STORE_BUCKETS, registry=r,
        )
        self.store_errors = Counter(
            f"{PREFIX}_store_errors", "Store calls that failed, by operation.", ["op"], registry=r
        )
        self.executions_active = Gauge(
            f"{PREFIX}_executions_active", "Diagnoses running on the built-in engine.", registry=r,
            multiprocess_mode="livesum",
        )
        self.diagnoses_queued = Gauge(
            f"{PREFIX}_diagnoses_queued", "Diagnoses waiting for a slot in the concurrency controller.", registry=r,
            multiprocess_mode="livesum",
        )
        self.diagnoses_refused = Counter(
            f"{PREFIX}_diagnoses_refused", "Diagnosis requests refused before queueing, by reason "
            "(overloaded, too_many_diagnoses).", ["reason"], registry=r
        )
        self.queue_wait_expected = Gauge(
            f"{PREFIX}_diagnosis_queue_wait_expected_seconds", "Expected wait for a slot of a diagnosis admitted now "
            "(queue length / measured service rate).", registry=r, multiprocess_mode="max",
        )
        self.frame_errors = Counter(
            f"{PREFIX}_frame_errors", "Client frames answered with an error, by code.", ["code"], registry=r
        )
        self.events_published = Counter(
            f"{PREFIX}_events_published", "Events stored, by the entrance they came in by (http, batch, ws, engine).",
            ["path"], registry=r,
        )
        self.store_bytes = Gauge(
            f"{PREFIX}_store_bytes", "Bytes the memory store holds, as its budget store.max_bytes counts them.",
            registry=r, multiprocess_mode="livesum",
        )
        self.store_max_bytes = Gauge(
            f"{PREFIX}_store_max_bytes", "The memory store's budget (store.max_bytes).", registry=r,
            multiprocess_mode="livesum",
        )
        self.store_executions = Gauge(
            f"{PREFIX}_store_executions", "Executions the memory store holds.", registry=r, multiprocess_mode="livesum",
        )
        self.store_evictions = Counter(
            f"{PREFIX}_store_evictions", "Stored events evicted to stay within store.max_bytes, by reason "
            "(finished: with their whole finished execution; idle: trimmed from a running one).", ["reason"], registry=r,
        )
        self.store_refusals = Counter(
            f"{PREFIX}_store_refusals", "New executions refused 503 store_full: only running streams were left.",
            registry=r,
        )
        self.gc_pause = Histogram(
            f"{PREFIX}_gc_pause_seconds", "Time the event loop stood still in CPython's garbage collector, by generation "
            "(2: a full collection, whose length grows with the objects the process holds).", ["generation"],
            buckets=STORE_BUCKETS, registry=r,
        )
        self._store_usage: Callable[[], StoreUsage] | None = None
        for reason in ("finished", "idle"):
            self.store_evictions.labels(reason)
        self._sent_by_event = {event: self.messages_sent.labels(event) for event in EVENTS}
        self._store_ops: dict[str, Histogram] = {}
        self.ws_disconnections.labels("client")
        for result in ("hit", "miss"):
            self.cache_requests.labels(result)
        for reason in ("overloaded", "too_many_diagnoses"):
            self.diagnoses_refused.labels(reason)
        for status in ("complete", "error"):
            self.diagnoses.labels(status)

    def count_sent(self, event: str, latency_s: float) -> None:
        """One diagnosis_update frame written: the hot path, so label children are looked up once."""
        self._sent_by_event[event].inc()
        self.push_latency.observe(latency_s if latency_s > 0 else 0.0)

    def observe_store(self, op: str, seconds: float, ok: bool) -> None:
        """The store's hook: latency of every call, and errors by operation. Called for every
        published event, so each op's histogram child is looked up once (labels() cost 5 % of a
        batch publish's profile)."""
        child = self._store_ops.get(op)
        if child is None:
            child = self._store_ops[op] = self.store_operation.labels(op)
        child.observe(seconds)
        if not ok:
            self.store_errors.labels(op).inc()

    def observe_eviction(self, reason: str, count: int) -> None:
        """A budgeted store's hook: evicted events by reason, and refused executions."""
        if reason == "refused":
            self.store_refusals.inc(count)
        else:
            self.store_evictions.labels(reason).inc(count)

    def watch_store(self, usage: Callable[[], StoreUsage]) -> None:
        """Read the store's usage at each scrape rather than on every publish."""
        self._store_usage = usage

    def exposition(self) -> tuple[bytes, str]:
        if self._store_usage is not None:
            usage = self._store_usage()
            self.store_bytes.set(usage.bytes)
            self.store_executions.set(usage.executions)
            self.store_max_bytes.set(usage.max_bytes)
        if os.environ.get(MULTIPROCESS_ENV):
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged), CONTENT_TYPE_PLAIN_0_0_4
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4


def forget_process(pid: int) -> None:
    """Drop a dead worker's live gauges (its counters stay: they happened)."""
    if os.environ.get(MULTIPROCESS_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
