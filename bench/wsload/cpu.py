"""CPU accounting: what the server, each client process and the whole machine spent in a window,
and which of them limited the run."""

from __future__ import annotations

import threading
import time
from typing import Any

import psutil

SATURATED = 0.90  # a process above 90 % of one core is treated as the limit of a run
MACHINE_SATURATED = 0.90  # the whole machine (all cores) above 90 % busy


class ProcTree:
    """CPU and RSS of some processes and their children, with the set fixed at `freeze()`."""

    def __init__(self, pids: tuple[int, ...] | list[int]) -> None:
        self.roots = [psutil.Process(p) for p in pids]
        self.procs: list[psutil.Process] = []
        self.freeze()

    def freeze(self) -> None:
        procs: list[psutil.Process] = []
        for root in self.roots:
            try:
                procs.append(root)
                procs.extend(root.children(recursive=True))
            except psutil.NoSuchProcess:
                pass
        self.procs = procs

    def cpu(self) -> float:
        user, system = self.cpu_split()
        return user + system

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds; system is mostly the kernel's share of socket writes."""
        user = system = 0.0
        for proc in self.procs:
            try:
                t = proc.cpu_times()
                user += t.user
                system += t.system
            except psutil.NoSuchProcess:
                pass
        return user, system

    def rss(self) -> int:
        total = 0
        for proc in self.procs:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy seconds, total seconds) summed over all CPUs since boot."""
    t = psutil.cpu_times()
    total = sum(t)
    idle = t.idle + getattr(t, "iowait", 0.0)
    return total - idle, total


def cpu_entry(seconds: float, window: float, messages: int) -> dict[str, Any]:
    return {"seconds": round(seconds, 3), "core_percent": round(100 * seconds / window, 1),
            "us_per_msg": round(seconds / messages * 1e6, 2) if messages else None}


def limits_of(server_cpu: float, client_cpus: dict[str, float], machine_busy: float, rate_ratio: float,
              publish_lag_p99_ms: float | None = None, period_ms: float = 50.0) -> str:
    """Name the side(s) that limited a run, from CPU shares of one core (server, clients) and of the machine,
    and from how far the publisher fell behind its schedule (a server slow to answer publishes, or a
    publisher short of CPU)."""
    sides = []
    if publish_lag_p99_ms is not None and publish_lag_p99_ms > period_ms:
        sides.append(f"publishes behind schedule (lag p99 {publish_lag_p99_ms:.0f} ms)")
    if server_cpu >= SATURATED:
        sides.append(f"server CPU ({server_cpu:.0%} of a core)")
    for name, share in client_cpus.items():
        if share >= SATURATED:
            sides.append(f"client {name} ({share:.0%} of a core)")
    if machine_busy >= MACHINE_SATURATED:
        sides.append(f"machine ({machine_busy:.0%} of all cores busy)")
    if sides:
        return "; ".join(sides)
    if rate_ratio >= 0.97:
        return "none: target rate delivered"
    if machine_busy >= 0.75:
        return f"behind the target rate; CPU contention ({machine_busy:.0%} of all cores busy)"
    return "behind the target rate; no process saturated"


class CpuWindow:
    """CPU seconds of some processes between two wall-clock moments, sampled on a thread
    (run_fanout tells us the window only just before it opens)."""

    def __init__(self, pids: list[int]) -> None:
        self.tree = ProcTree(pids)
        self.seconds: float | None = None
        self._thread: threading.Thread | None = None

    def start(self, t0: float, t1: float) -> None:
        def sample() -> None:
            time.sleep(max(0.0, t0 - time.time()))
            before = self.tree.cpu()
            time.sleep(max(0.0, t1 - time.time()))
            self.seconds = self.tree.cpu() - before

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def result(self) -> float | None:
        if self._thread is not None:
            self._thread.join(30)
        return self.seconds
