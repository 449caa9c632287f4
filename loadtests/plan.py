"""A load-test run as data: what to start, with which arguments, bounded by when.

The CLI builds a `Plan` from its flags and `diagops.yaml`; `launcher` turns it
into processes. Kept apart so the command lines are tested without running them.
"""

from __future__ import annotations

import math
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from diagops.loadtests import outputs
from diagops.spec.durations import parse_duration

LOCUSTFILE = Path(__file__).with_name("generator") / "locustfile.py"
STARTUP_SLACK_S = 30.0  # process start, worker connection, ramp-up overrun, report writing
WORKER_WAIT_S = 30.0  # how long a master waits for its workers to connect


def run_duration(text: str) -> float:
    """A run's length in seconds from `60`, `60s`, `2m`, `1h30m`, `1.5m` (the spec's duration
    syntax); ValueError on anything else, zero included."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError(f"the duration must be above zero (got {text!r})")
    return seconds


@dataclass(frozen=True)
class Plan:
    """Everything one run needs; `workers == 0` runs users in a single Locust process."""

    host: str
    users: int
    spawn_rate: float
    duration_s: float
    out: Path
    workers: int = 0
    ui: bool = False
    ui_port: int = 8089
    master_bind: tuple[str, int] | None = None  # remote workers connect here; none started locally
    master_port: int = 5557  # where local workers connect (a free port, chosen by the CLI)
    stop_timeout_s: float = 30.0
    think_time_s: tuple[float, float] = (1.0, 3.0)
    weights: dict[str, int] = field(default_factory=lambda: {"diagnose": 5, "diagnose_cached": 0, "ping": 1})
    brands: int = 100
    brand_skew: float = 1.1
    # New for each run, shared by its master and workers: every run starts with a cold cache.
    brand_prefix: str = field(default_factory=lambda: f"loadtest-{uuid.uuid4().hex[:8]}")
    final_timeout_s: float = 30.0
    ping_timeout_s: float = 5.0
    token_algorithm: str = "HS256"

    @property
    def distributed(self) -> bool:
        return self.workers > 0 or self.master_bind is not None

    @property
    def local_workers(self) -> int:
        """Workers this machine starts: none when they come from elsewhere (--master-bind)."""
        return 0 if self.master_bind is not None else self.workers

    @property
    def deadline_s(self) -> float:
        """The outer bound after which the generator is terminated, whatever it is doing."""
        ramp = self.users / self.spawn_rate
        wait = WORKER_WAIT_S if self.distributed else 0.0
        return self.duration_s + ramp + self.stop_timeout_s + wait + STARTUP_SLACK_S

    def scenario_args(self) -> list[str]:
        return [
            "--diagnose-weight", str(self.weights["diagnose"]),
            "--cached-weight", str(self.weights["diagnose_cached"]),
            "--brands", str(self.brands),
            "--brand-skew", f"{self.brand_skew:g}",
            "--brand-prefix", self.brand_prefix,
            "--ping-weight", str(self.weights["ping"]),
            "--think-min", f"{self.think_time_s[0]:g}",
            "--think-max", f"{self.think_time_s[1]:g}",
            "--final-timeout", f"{self.final_timeout_s:g}",
            "--ping-timeout", f"{self.ping_timeout_s:g}",
            "--token-algorithm", self.token_algorithm,
        ]

    def main_command(self) -> list[str]:
        """The local runner, or the master in distributed mode: it owns the run and its reports."""
        args = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE),
            "--host", self.host,
            "-u", str(self.users), "-r", f"{self.spawn_rate:g}", "-t", f"{math.ceil(self.duration_s)}s",
            "--stop-timeout", f"{self.stop_timeout_s:g}",
            "--csv", str(self.out / outputs.LOCUST_CSV_PREFIX), "--csv-full-history",
            "--html", str(self.out / outputs.LOCUST_HTML),
            "--diagops-out", str(self.out),
            "--only-summary",
            "--exit-code-on-error", "0",  # failures are judged by the CLI against the thresholds
        ]
        if self.ui:
            args += ["--autostart", "--web-host", "127.0.0.1", "--web-port", str(self.ui_port)]
        else:
            args += ["--headless"]
        if self.distributed:
            host, port = self.master_bind or ("127.0.0.1", self.master_port)
            args += ["--master", "--master-bind-host", host, "--master-bind-port", str(port),
                     "--expect-workers", str(self.workers), "--expect-workers-max-wait", f"{WORKER_WAIT_S:g}"]
        return args + self.scenario_args()

    def worker_command(self, master_host: str = "127.0.0.1", master_port: int | None = None) -> list[str]:
        return [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
            "--master-host", master_host, "--master-port", str(master_port or self.master_port),
            *self.scenario_args(),
        ]
