"""Run the selected checks in order, each inside its own error boundary, and report progress.

A check that raises is a failure whose evidence is the error: a gate must never read a crash as
"nothing wrong". A check whose optional input is absent is skipped with the flag that provides it.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable

from diagops.checks.context import GateContext
from diagops.checks.model import CheckResult, Outcome, skipped
from diagops.checks.registry import Registered

INPUT_FLAGS = {"prometheus_url": "--prometheus-url", "loadtest": "--loadtest", "bench": "--bench",
               "coverage": "--coverage", "junit": "--junit"}
Progress = Callable[[Registered, CheckResult | None], None]


def settings(reg: Registered, ctx: GateContext) -> tuple[bool, float]:
    """(required, weight) as the spec's `verify.checks` overrides them."""
    override = ctx.spec.verify.checks.get(reg.info.id)
    required = reg.info.required if override is None or override.required is None else override.required
    weight = reg.info.weight if override is None or override.weight is None else override.weight
    return required, weight


async def run_checks(selected: list[Registered], ctx: GateContext, command: str,
                     progress: Progress | None = None) -> list[CheckResult]:
    results = []
    for reg in selected:
        if progress:
            progress(reg, None)
        began = time.monotonic()
        needs = reg.info.needs
        if needs is not None and not ctx.inputs.has(needs):
            outcome = skipped(f"needs {INPUT_FLAGS[needs]}, which was not given")
        else:
            try:
                outcome = await reg.run(ctx)
            except Exception as exc:  # noqa: BLE001 (recorded as the check's failure, with its traceback)
                outcome = Outcome(status="fail", summary=f"the check crashed: {type(exc).__name__}: {exc}",
                                  evidence={"traceback": traceback.format_exc(limit=6)[-3000:]})
        required, weight = settings(reg, ctx)
        result = CheckResult(info=reg.info, required=required, weight=weight, outcome=outcome,
                             duration_s=time.monotonic() - began, command=f"{command} --select {reg.info.id}")
        results.append(result)
        if progress:
            progress(reg, result)
    return results
