"""The base every spec section shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Unknown keys are errors: a typo must fail with its name, not fall back to a default."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
