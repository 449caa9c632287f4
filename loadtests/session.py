"""One run of the generator, start to verdict, without importing Locust.

Starts the Locust processes of a `Plan` (a local runner, or a master and its
workers), shows the live view while they run, ends them at the outer bound,
then turns their `raw.json` into `results.json` and `summary.md`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from diagops.loadtests import outputs
from diagops.loadtests import results as results_mod
from diagops.loadtests import summary
from diagops.loadtests.launcher import Child
from diagops.loadtests.plan import Plan
from diagops.procs.executor import last_lines
from diagops.push.protocol import utc_timestamp
from diagops.spec import Spec

WORKER_EXIT_GRACE_S = 5.0


class GeneratorError(Exception):
    """The generator produced no result (it failed to start, or crashed); one readable line."""


def run_generator(plan: Plan, env: Mapping[str, str], tick: Callable[[], None] | None = None) -> tuple[int | None, bool]:
    """Run the Locust processes to their end or the plan's outer bound; (main exit code, timed out)."""
    plan.out.mkdir(parents=True, exist_ok=True)
    for name in outputs.STALE:  # never judge a previous run's files
        (plan.out / name).unlink(missing_ok=True)
    main = Child("locust", plan.main_command(), plan.out / outputs.LOCUST_LOG, env)
    workers = [
        Child(f"worker-{i}", plan.worker_command(), plan.out / outputs.worker_log(i), env)
        for i in range(1, plan.local_workers + 1)
    ]
    deadline = time.monotonic() + plan.deadline_s
    timed_out = False
    try:
        while main.poll() is None:
            if time.monotonic() >= deadline:
                timed_out = True
                break
            if tick is not None:
                tick()
            main.wait(0.5)  # returns as soon as the generator exits
    finally:
        code = main.stop()  # SIGTERM makes Locust write what it has (raw.json marked incomplete)
        for worker in workers:
            if worker.wait(WORKER_EXIT_GRACE_S) is None:
                worker.stop(grace_s=WORKER_EXIT_GRACE_S)
            else:
                worker.stop()
        if tick is not None:
            tick()
    return (None if timed_out else code), timed_out


def collect(plan: Plan, spec: Spec, info: results_mod.RunInfo) -> dict[str, Any]:
    """Read what the generator wrote and build, write and return the results document."""
    raw_path = plan.out / outputs.RAW
    if not raw_path.is_file():
        log = plan.out / outputs.LOCUST_LOG
        raise GeneratorError(f"the load generator ended without results (exit {info.generator_exit}): "
                             f"{last_lines(log) or 'no output'} (log: {log})")
    raw = json.loads(raw_path.read_text(encoding="utf-8"))
    series = results_mod.read_timeseries(plan.out / outputs.TIMESERIES)
    document = results_mod.build(raw, series, spec, info)
    _write(plan.out / outputs.RESULTS, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    _write(plan.out / outputs.SUMMARY, summary.render(document))
    return document


def run_info(plan: Plan, *, embedded: bool, engine_speed: float | None, started_at: str,
             generator_exit: int | None, timed_out: bool, interrupted: bool = False) -> results_mod.RunInfo:
    return results_mod.RunInfo(
        host=plan.host, embedded=embedded, engine_speed=engine_speed, users=plan.users,
        spawn_rate=plan.spawn_rate, duration_s=plan.duration_s, workers=plan.workers, out=plan.out,
        started_at=started_at, finished_at=utc_timestamp(), generator_exit=generator_exit, generator_timed_out=timed_out,
        interrupted=interrupted,
    )


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
