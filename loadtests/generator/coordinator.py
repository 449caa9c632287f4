"""Locust listeners that make a run bounded, honest about its generator, and readable by the CLI.

One `Coordinator` per Locust process, installed by the locustfile on Locust's
init event. What it adds to a plain Locust run:

- This process's tally (a `Collector`), which the users report into next to
  Locust's statistics and which is the figure the verdict uses.
- A run-time controller replacing Locust's `-t`: on a time limit Locust's master
  quits half a second after telling workers to, and a worker's last samples can
  miss the final statistics (FINDINGS.md: 8 % of messages). Here the master asks
  each worker to stop its users (letting a running diagnosis reach its final
  event), waits for each worker's complete tally, then quits.
- A probe in every generator process: CPU use every second and dispatch lag
  (from a socket becoming readable to its greenlet running, 50 times a second
  once every user is spawned: the latency the generator itself adds to each
  delivery in steady state).
- Every second, on the master or the single local process, one line of
  `timeseries.jsonl` (users, sockets, events/s, progress latency percentiles,
  failures, CPU), which the CLI tails for its live view and draws in the summary.
- At the end, `raw.json`: the merged tally, the probes, Locust's own statistics.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import gevent
import locust.runners
from gevent.event import Event
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from diagops.loadtests import outputs
from diagops.loadtests.collector import Collector
from diagops.loadtests.histogram import Histogram
from diagops.loadtests.generator.options import scenario_options
from diagops.loadtests.generator.probe import ProcessProbe

RAW_FORMAT = "diagops.loadtest.raw/1"
FINALS_GRACE_S = 15.0
# Workers report to the master every 3 s by default; the live view and the time series want 1 s.
WORKER_REPORT_INTERVAL_S = 1.0
_COLLECTOR_ATTRIBUTE = "diagops_collector"


def collector_of(environment: Environment) -> Collector:
    """This process's tally, as `Coordinator.install` left it on the environment for the users."""
    collector = getattr(environment, _COLLECTOR_ATTRIBUTE, None)
    if collector is None:
        raise RuntimeError("no diagops tally on this Locust environment: install a Coordinator first "
                           "(the locustfile does it on Locust's init event)")
    return collector


class Coordinator:
    """Wires the listeners for this process's role (local, master or worker)."""

    def __init__(self, environment: Environment) -> None:
        self.env = environment
        self.runner = environment.runner
        self.options = environment.parsed_options
        if isinstance(self.runner, MasterRunner):
            self.role = "master"
        elif isinstance(self.runner, WorkerRunner):
            self.role = "worker"
        else:
            self.role = "local"
        self.probe = ProcessProbe(self.role)
        self.collector = Collector()  # one per generator process, as Locust has one runner
        self.out = Path(self.options.diagops_out) if self.options and self.options.diagops_out else None
        self.run_time_s = self._take_over_run_time()
        self.started_at: float | None = None
        self.phase = "starting"
        self.written = False
        # Master side: what workers sent.
        self.worker_latest: dict[str, dict[str, Any]] = {}
        self.window = {"progress": Histogram(), "lag": Histogram(), "events": 0, "failures": 0}
        self.finals: dict[str, dict[str, Any]] = {}
        self.expected_workers: set[str] = set()
        self.finals_in = Event()
        self.peak_open_sockets = 0

    # -- setup -------------------------------------------------------------------

    def install(self) -> None:
        """Give the users this process's tally and wire the listeners of its role."""
        setattr(self.env, _COLLECTOR_ATTRIBUTE, self.collector)
        # A worker reads this on every turn of its report loop, which first runs after Locust's
        # init event: set here, it holds from the first report on.
        locust.runners.WORKER_REPORT_INTERVAL = WORKER_REPORT_INTERVAL_S
        events = self.env.events
        events.test_start.add_listener(self._on_test_start)
        events.spawning_complete.add_listener(self._on_spawning_complete)
        if self.role == "worker":
            events.report_to_master.add_listener(self._on_report_to_master)
            self.runner.register_message("diagops_stop", self._on_stop_request, concurrent=True)
        else:
            events.quitting.add_listener(self._on_quitting)
        if self.role == "master":
            events.worker_report.add_listener(self._on_worker_report)
            self.runner.register_message("diagops_final", self._on_final)

    def _take_over_run_time(self) -> float | None:
        options = self.options
        if self.role == "worker" or options is None or not getattr(options, "run_time", None):
            return None
        if not (options.headless or options.autostart):
            return None
        run_time = float(options.run_time)
        options.run_time = None  # Locust would otherwise quit on its own timer, too early for workers
        return run_time

    def _on_spawning_complete(self, **_: Any) -> None:
        self.probe.recording_lag = True

    def _on_test_start(self, environment: Environment, **_: Any) -> None:
        self.probe.recording = True
        if self.role == "worker":
            return
        self.started_at = time.time()
        self.phase = "running"
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / outputs.TIMESERIES).write_text("")
        gevent.spawn(self._sample_loop)
        if self.run_time_s is not None:
            gevent.spawn(self._controller)

    # -- ending a run -------------------------------------------------------------------

    def _controller(self) -> None:
        assert self.run_time_s is not None
        gevent.sleep(self.run_time_s)
        self.phase = "stopping"
        complete = True
        if self.role == "master":
            # Every worker that ever reported: one that died mid-run is then missing, not forgotten.
            self.expected_workers = {client.id for client in self.runner.clients.all} | set(self.worker_latest)
            self.runner.send_message("diagops_stop")
            if self.expected_workers and not self.finals.keys() >= self.expected_workers:
                complete = self.finals_in.wait(self.env.stop_timeout + FINALS_GRACE_S)
        else:
            self.runner.stop()  # users finish their diagnosis (within --stop-timeout), then stop
        self.phase = "stopped"
        self.write_raw(complete=bool(complete))
        self.runner.quit()
        if self.env.web_ui is not None:
            self.env.web_ui.stop()  # with --ui the web server is what keeps Locust's main loop alive

    def _on_stop_request(self, environment: Environment, msg: Any) -> None:
        """Worker: stop users, flush Locust's statistics, then send this process's whole tally."""
        self.runner.stop()
        send_stats = getattr(self.runner, "_send_stats", None)
        if send_stats is not None:
            send_stats()  # ordered before the final on the same channel: the master's CSV is complete
        self.runner.send_message("diagops_final",
                                 {"collector": self.collector.to_dict(), "process": self.probe.to_dict()})

    def _on_final(self, environment: Environment, msg: Any) -> None:
        self.finals[msg.node_id] = msg.data
        if self.expected_workers and self.finals.keys() >= self.expected_workers:
            self.finals_in.set()

    def _on_quitting(self, environment: Environment, **_: Any) -> None:
        self.write_raw(complete=False)  # only if the controller did not (SIGTERM, Ctrl-C, the web UI)

    # -- live figures -------------------------------------------------------------------

    def _on_report_to_master(self, client_id: str, data: dict[str, Any]) -> None:
        data["diagops"] = {"window": self.collector.take_window(), "cpu": self.probe.latest_cpu,
                           "lag": self.probe.take_lag_window().to_dict()}

    def _on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        report = data.get("diagops")
        if not report:
            return
        window = report["window"]
        self.window["progress"].merge(Histogram.from_dict(window["progress"]))
        self.window["lag"].merge(Histogram.from_dict(report.get("lag", {})))
        self.window["events"] += window["events"]
        self.window["failures"] += window["failures"]
        self.worker_latest[client_id] = {"open_sockets": window["open_sockets"], "cpu": report["cpu"]}

    def _take_window(self) -> tuple[Histogram, Histogram, int, int, int, dict[str, float]]:
        """Since the last call: progress latencies, dispatch lag, events, failures; now: sockets, CPU."""
        if self.role == "local":
            window = self.collector.take_window()
            cpu = {f"local-{self.probe.pid}": self.probe.latest_cpu}
            return (Histogram.from_dict(window["progress"]), self.probe.take_lag_window(), window["events"],
                    window["failures"], window["open_sockets"], cpu)
        taken = self.window
        self.window = {"progress": Histogram(), "lag": Histogram(), "events": 0, "failures": 0}
        open_sockets = sum(w["open_sockets"] for w in self.worker_latest.values())
        cpu = {f"master-{self.probe.pid}": self.probe.latest_cpu}
        for index, (_, latest) in enumerate(sorted(self.worker_latest.items()), start=1):
            cpu[f"worker-{index}"] = latest["cpu"]
        return taken["progress"], taken["lag"], taken["events"], taken["failures"], open_sockets, cpu

    def _sample_loop(self) -> None:
        last = time.monotonic()
        while True:
            gevent.sleep(1.0)
            now = time.monotonic()
            progress, lag, events, failures, open_sockets, cpu = self._take_window()
            self.peak_open_sockets = max(self.peak_open_sockets, open_sockets)
            interval = max(now - last, 1e-6)
            last = now
            line = {
                "t": round(time.time() - (self.started_at or time.time()), 3),
                "phase": self.phase,
                "users": self.runner.user_count,
                "open_sockets": open_sockets,
                "events": events,
                "events_per_s": round(events / interval, 1),
                "progress": {"count": progress.count, "p50": progress.percentile(0.5),
                             "p95": progress.percentile(0.95), "p99": progress.percentile(0.99)},
                "failures": failures,
                "cpu": cpu,
                "lag_p99": lag.percentile(0.99),
                "lag": lag.to_dict(),  # user-running processes merged; the benchmark merges a steady window
                "run_time_s": self.run_time_s,
            }
            if self.out is not None:
                with open(self.out / outputs.TIMESERIES, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(line) + "\n")

    # -- the raw result -------------------------------------------------------------------

    def write_raw(self, *, complete: bool) -> None:
        """Write `raw.json` once (atomically): the merged tally and how far it can be trusted."""
        if self.out is None or self.written:
            return
        self.written = True
        merged = Collector()
        processes = [self.probe.to_dict()]
        if self.role == "local":
            merged.merge_dict(self.collector.to_dict())
            peak = self.collector.peak_open_sockets
        else:
            for final in self.finals.values():
                merged.merge_dict(final["collector"])
                processes.append(final["process"])
            peak = self.peak_open_sockets
        missing = sorted(self.expected_workers - self.finals.keys())
        raw = {
            "format": RAW_FORMAT,
            "complete": complete and not missing,
            "role": self.role,
            "workers_reported": len(self.finals),
            "workers_missing": len(missing),
            "started_at": self.started_at,
            "stopped_at": time.time(),
            "run_time_s": self.run_time_s,
            "host": self.env.host,
            "target_users": getattr(self.runner, "target_user_count", None),
            "peak_open_sockets": peak,
            "collector": merged.to_dict(),
            "processes": processes,
            "locust": _locust_stats(self.env),
            "options": scenario_options(self.options),
        }
        self.out.mkdir(parents=True, exist_ok=True)
        tmp = self.out / outputs.RAW_PARTIAL
        tmp.write_text(json.dumps(raw), encoding="utf-8")
        os.replace(tmp, self.out / outputs.RAW)


def _locust_stats(environment: Environment) -> dict[str, Any]:
    """Locust's own view, for cross-checking ours (whole-ms rounding and all)."""
    stats = environment.runner.stats if environment.runner else None
    if stats is None:
        return {"entries": [], "errors": [], "cpu_warning": False}
    entries = [
        {
            "type": entry.method, "name": entry.name, "requests": entry.num_requests,
            "failures": entry.num_failures, "median_ms": entry.median_response_time,
            "p95_ms": entry.get_response_time_percentile(0.95), "max_ms": entry.max_response_time,
        }
        for entry in stats.entries.values()
    ]
    errors = [{"type": e.method, "name": e.name, "error": str(e.error), "occurrences": e.occurrences}
              for e in stats.errors.values()]
    runner = environment.runner
    warned = bool(getattr(runner, "cpu_warning_emitted", False) or getattr(runner, "worker_cpu_warning_emitted", False))
    return {"entries": entries, "errors": errors, "cpu_warning": warned}
