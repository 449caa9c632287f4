"""Locust file: simulated mini-program users watching diagnoses over one long-lived socket.

    locust -f loadtests/generator/locustfile.py --host http://127.0.0.1:8765

opens Locust's web UI as usual (tokens are minted from $DIAGOPS_JWT_SECRET or
`--token-secret`, or taken from $DIAGOPS_LOADTEST_TOKENS, one per line);
`diagops loadtest` runs this same file headless, in a child process, and judges
the result against `diagops.yaml`.

The scenario only: which tasks, how often, with which think time. Each user
(`user.DiagnosisPushUser`: one socket for its life, reported entries and
failures) loops over weighted tasks: a diagnosis of a brand drawn from the
run's skewed catalogue (`loadtests.catalogue`; the engine runs it and pushes
live progress, or the cache answers a popular brand), optionally requests for
three fixed brands the cache always answers, an application ping. The listeners below add the scenario's options and
install this process's `Coordinator`.
"""

from __future__ import annotations

import functools
import random
from typing import Any

# First import: gevent monkey-patches the process. Nothing heavy above this line.
from locust import events, task

from diagops.loadtests.catalogue import BrandCatalogue
from diagops.loadtests.generator.coordinator import Coordinator
from diagops.loadtests.generator.options import add_arguments
from diagops.loadtests.generator.user import DiagnosisPushUser

CACHED_BRANDS = ("diagops-loadtest-cached-a", "diagops-loadtest-cached-b", "diagops-loadtest-cached-c")


@functools.lru_cache(maxsize=4)
def _catalogue_for(prefix: str, size: int, skew: float) -> BrandCatalogue:
    return BrandCatalogue(prefix, size, skew)


def _catalogue(options: Any) -> BrandCatalogue:
    return _catalogue_for(options.brand_prefix, options.brands, options.brand_skew)


class DiagnosisSocketUser(DiagnosisPushUser):
    """A mini-program user of the scenario; task weights come from the options (see `_weights`)."""

    def wait_time(self) -> float:
        options = self.environment.parsed_options
        return random.uniform(options.think_min, options.think_max)

    @task(5)
    def fresh_diagnosis(self) -> None:
        """A brand from the run's skewed catalogue: the engine runs it and pushes live progress,
        unless it completed for someone earlier in the run and the cache answers."""
        self.diagnose(_catalogue(self.environment.parsed_options).draw())

    @task(1)
    def cached_diagnosis(self) -> None:
        """A request asked before: after its first run the service answers from its cache."""
        self.diagnose(random.choice(CACHED_BRANDS))

    @task(1)
    def socket_ping(self) -> None:
        self.ping()


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    add_arguments(parser)


@events.init.add_listener
def _init(environment: Any, **_: Any) -> None:
    Coordinator(environment).install()


@events.test_start.add_listener
def _weights(environment: Any, **_: Any) -> None:
    """Task weights are options, read when a run starts (a worker learns them from the master then)."""
    options = environment.parsed_options
    if options is None:
        return
    tasks: list[Any] = (
        [DiagnosisSocketUser.fresh_diagnosis] * options.diagnose_weight
        + [DiagnosisSocketUser.cached_diagnosis] * options.cached_weight
        + [DiagnosisSocketUser.socket_ping] * options.ping_weight
    )
    if tasks:
        DiagnosisSocketUser.tasks = tasks
