"""The gate as one call: run the selected checks against a ready target and score them."""

from __future__ import annotations

from dataclasses import dataclass

from diagops.checks.context import GateContext
from diagops.checks.inputs import GateInputs
from diagops.checks.model import CheckResult
from diagops.checks.registry import Registered, select
from diagops.checks.runner import Progress, run_checks
from diagops.checks.scoring import Verdict, verdict
from diagops.spec import Spec


@dataclass(frozen=True)
class GateRun:
    results: list[CheckResult]
    deselected: list[Registered]
    verdict: Verdict
    run_id: str


async def run_gate(spec: Spec, target: str, secret: str, *, inputs: GateInputs, selection: str | None = None,
                   lang: str = "en", command: str = "diagops verify", progress: Progress | None = None,
                   run_id: str | None = None) -> GateRun:
    """Raises registry.SelectionError for a bad selection before touching the target.
    `run_id` (default random) is in the name of every user and execution the gate creates."""
    chosen, deselected = select(selection)
    ctx = GateContext(spec=spec, target=target, secret=secret, inputs=inputs, lang=lang)
    if run_id is not None:
        ctx.run_id = run_id
    await ctx.open()
    try:
        results = await run_checks(chosen, ctx, command, progress)
    finally:
        await ctx.close()
    return GateRun(results, deselected, verdict(results, spec.verify.score, ctx.lang), ctx.run_id)
