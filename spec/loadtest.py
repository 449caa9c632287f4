"""Load-test settings. Latency and error-rate thresholds come from `slo`, not from here."""

from __future__ import annotations

from pydantic import Field, model_validator

from diagops.spec.model_base import Section


class TaskWeights(Section):
    """How often a simulated user picks each task (Locust task weights)."""

    diagnose: int = Field(5, ge=0, description="a diagnosis of a brand drawn from `brands`: live pushes, or the cache")
    diagnose_cached: int = Field(0, ge=0, description="extra requests for three fixed brands, always cached after the first")
    ping: int = Field(1, ge=0, description="an application ping on the open socket")

    @model_validator(mode="after")
    def _some(self) -> TaskWeights:
        if self.diagnose + self.diagnose_cached + self.ping == 0:
            raise ValueError("at least one task weight must be above 0")
        return self


class BrandsSpec(Section):
    """The catalogue users draw brands from, per run: popular brands are cache hits, as in real traffic."""

    count: int = Field(100, ge=1, description="distinct brands in a run's catalogue")
    skew: float = Field(1.1, ge=0, description="Zipf exponent: the k-th brand is asked 1/k^skew as often as the first")


class LoadtestSpec(Section):
    users: int = Field(100, ge=1)
    spawn_rate: float = Field(20.0, gt=0)
    duration_s: float = Field(60.0, gt=0)
    max_loss: int = Field(0, ge=0, description="events a run may lose (gaps in a stream) and still pass")
    max_unfinished: int = Field(
        0, ge=0, description="accepted diagnoses with no final event by final_timeout_s a run may have and still pass"
    )
    max_refused_ratio: float = Field(
        0.01, ge=0, le=1, description="share of diagnoses a run may have refused as busy (after retrying) and still pass"
    )
    final_timeout_s: float = Field(30.0, gt=0, description="a diagnosis with no final event by then never finished")
    think_min_s: float = Field(1.0, ge=0, description="pause between a user's tasks, drawn uniformly")
    think_max_s: float = Field(3.0, ge=0)
    weights: TaskWeights = TaskWeights()
    brands: BrandsSpec = BrandsSpec()
    ping_timeout_s: float = Field(5.0, gt=0, description="an application ping without a pong by then fails")
    embedded_engine_speed: float = Field(
        10.0, gt=0, description="engine speed of the embedded service (10: a diagnosis takes ~2 s)"
    )
    generator_cpu_limit: float = Field(
        90.0, gt=0, le=100, description="a generator process at or above this CPU % is saturated"
    )
    generator_saturated_share: float = Field(
        0.1, gt=0, le=1, description="share of 1-s CPU samples at the limit that makes a run's latency invalid"
    )

    @model_validator(mode="after")
    def _think(self) -> LoadtestSpec:
        if self.think_max_s < self.think_min_s:
            raise ValueError(f"think_max_s ({self.think_max_s}) is below think_min_s ({self.think_min_s})")
        return self
