"""Load-test settings. Latency and error-rate thresholds come from `slo`, not from here."""

from __future__ import annotations

from pydantic import Field

from spec.model_base import Section


class LoadtestSpec(Section):
    users: int = Field(100, ge=1)
    spawn_rate: float = Field(20.0, gt=0)
    duration_s: float = Field(60.0, gt=0)
    max_loss: int = Field(0, ge=0, description="events a run may lose and still pass")
    final_timeout_s: float = Field(30.0, gt=0, description="a diagnosis with no final event by then is lost")
