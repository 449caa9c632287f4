"""Shared parts of the load-generator benchmarks: a tuned service, CPU sampling of a process tree.

The service is `diagops serve` in its own process with the engine's concurrency
caps and the connection-rate limit lifted, so that the generator, not the
engine's queue, decides how many messages flow. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from diagops.bench.wsload.cpu import ProcTree, machine_cpu_seconds
from diagops.loadtests.embedded import EmbeddedService

SECRET = "benchmark-secret-0123456789abcdef0123"
SERVICE_ENV = {
    "DIAGOPS_ENGINE__MAX_CONCURRENT_DIAGNOSES": "100000",
    "DIAGOPS_ENGINE__MAX_CONCURRENT_AI_CALLS": "100000",
    "DIAGOPS_LIMITS__CONNECTION_RATE": "100000",
    "DIAGOPS_LIMITS__CONNECTION_BURST": "100000",
}


def tuned_service(log: Path, speed: float = 10.0) -> EmbeddedService:
    """An embedded service (not started yet) whose limits do not cap the benchmark."""
    os.environ.update(SERVICE_ENV)  # EmbeddedService passes our environment on
    return EmbeddedService(log, secret=SECRET, engine_speed=speed)


def pin(pid: int, cpus: set[int] | None) -> None:
    """Pin a process and its live descendants to `cpus` (None: leave them where they are).

    On 2 cores a co-located service wakes up on the generator's core and preempts
    it; pinning each to its own core separates the generator's own added latency
    from that scheduling noise.
    """
    if not cpus:
        return
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.cpu_affinity(sorted(cpus))
        except psutil.NoSuchProcess:
            continue


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its live descendants (looked up anew on
    every call: Locust's workers come and go)."""
    try:
        return ProcTree([pid]).cpu()
    except psutil.NoSuchProcess:
        return 0.0


@dataclass
class CpuSampler:
    """Samples the CPU seconds of process trees twice a second, in a thread."""

    pids: dict[str, int]
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> CpuSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            values = {name: tree_cpu_seconds(pid) for name, pid in self.pids.items()}
            values["machine"] = machine_cpu_seconds()[0]  # busy seconds: what else ran beside the benchmark
            self.samples.append((time.monotonic(), values))
            self._stop.wait(0.5)

    def rate(self, name: str, start: float, end: float) -> float | None:
        """CPU seconds per second of `name` between two monotonic times (None: no samples there)."""
        inside = [(t, s[name]) for t, s in self.samples if start <= t <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])
