"""Settings of the release gate (`diagops verify`): what it runs, how it scores, what "before" was.

The gate's pass/fail thresholds are the objectives under `slo:`; this section only says how the
checks are weighed, which of them a release cannot do without, and how big the gate's own runs are.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from diagops.spec.model_base import Section


class CheckSetting(Section):
    """Overrides for one check (by id); what is left out keeps the check's own default."""

    required: bool | None = Field(None, description="a failed or skipped required check fails the release")
    weight: float | None = Field(None, ge=0, description="its share of the score (pass 1, warn 0.5, fail 0)")


class ScoreThresholds(Section):
    """Keptn's total score: the weighted share of passed checks, in percent."""

    pass_: float = Field(90.0, ge=0, le=100, alias="pass", description="score at or above which the release passes")
    warn: float = Field(75.0, ge=0, le=100, description="score at or above which it warns (below: fails)")

    @model_validator(mode="after")
    def _ordered(self) -> ScoreThresholds:
        if self.warn > self.pass_:
            raise ValueError(f"warn ({self.warn:g}) is above pass ({self.pass_:g})")
        return self


class Baseline(Section):
    """The figures before Phase 3 (polling), printed beside each measured one in the report."""

    delivery_latency: str = "2-30 s (polling)"
    concurrency: str = "10"
    cache_hit_ratio: str = "0 %"
    error_rate: str = "< 1 %"


class VerifySpec(Section):
    checks: dict[str, CheckSetting] = Field(default_factory=dict, description="per check id: required, weight")
    score: ScoreThresholds = ScoreThresholds()
    baseline: Baseline = Baseline()
    polling_executions: int = Field(20, ge=1, description="executions whose polled state is compared with the pushed one")
    cache_keys: int = Field(5, ge=1, description="distinct requests of the cache run ...")
    cache_repeats: int = Field(9, ge=1, description="... each repeated this often after its first (miss)")
    final_timeout_s: float = Field(60.0, gt=0, description="a diagnosis of the gate with no final event by then fails")
    max_input_age_s: float = Field(7 * 86400.0, gt=0, description="--loadtest/--bench results older than this warn")
    engine_speed: float = Field(10.0, gt=0, description="engine speed of the embedded service the gate starts")
