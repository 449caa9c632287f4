"""What a generator process costs and adds: its CPU use and its dispatch lag.

Imported only inside a Locust process (gevent). The lag probe writes one byte
into a socket pair 50 times a second and times how long the reading greenlet
takes to run: the same hub dispatch an incoming WebSocket frame goes through,
so it is the latency the generator itself adds to every delivery it measures.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import gevent
import psutil

from diagops.loadtests.histogram import Histogram

LAG_PROBE_INTERVAL_S = 0.02


class ProcessProbe:
    """CPU use and dispatch lag of this generator process while users run."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.cpu_samples: list[float] = []
        self.latest_cpu = 0.0
        self.lag = Histogram()
        self.lag_window = Histogram()  # since the last sample line: lag over time, for steady-state figures
        self.recording = False  # CPU: from the test's start
        self.recording_lag = False  # dispatch lag: once all users are spawned (the ramp's handshakes are not steady state)
        self._process = psutil.Process()
        self._process.cpu_percent(None)
        gevent.spawn(self._cpu_loop)
        gevent.spawn(self._lag_loop)

    def _cpu_loop(self) -> None:
        while True:
            gevent.sleep(1.0)
            self.latest_cpu = self._process.cpu_percent(None)
            if self.recording:
                self.cpu_samples.append(round(self.latest_cpu, 1))

    def _lag_loop(self) -> None:
        # A byte written to one end of a socket pair wakes a greenlet reading the
        # other end through the same hub dispatch as an incoming WebSocket frame:
        # the time it takes is what the generator adds to every delivery.
        writer, reader = socket.socketpair()
        sent = [0.0]

        def read() -> None:
            while reader.recv(1):
                if self.recording_lag:
                    lag = time.perf_counter() - sent[0]
                    self.lag.record(lag)
                    self.lag_window.record(lag)

        gevent.spawn(read)
        while True:
            gevent.sleep(LAG_PROBE_INTERVAL_S)
            sent[0] = time.perf_counter()
            writer.send(b"x")

    def take_lag_window(self) -> Histogram:
        window, self.lag_window = self.lag_window, Histogram()
        return window

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "pid": self.pid, "host": self.host,
                "cpu_samples": list(self.cpu_samples), "lag": self.lag.to_dict()}
