"""Who signs the acceptance report, and how many distinct roles a release needs.

Role ids are what `diagops signoff --role` and the trusted-keys `roles.yaml` name; the titles are
what the report's sign-off table shows in each language.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from diagops.spec.model_base import Section

Lang = Literal["zh", "en"]
_ROLE_ID = re.compile(r"[a-z][a-z0-9_]*")


class RoleTitle(Section):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


def _default_roles() -> dict[str, RoleTitle]:
    return {
        "chief_architect": RoleTitle(zh="首席架构师", en="Chief architect"),
        "tech_director": RoleTitle(zh="技术总监", en="Technical director"),
        "product_manager": RoleTitle(zh="产品经理", en="Product manager"),
        "project_manager": RoleTitle(zh="项目经理", en="Project manager"),
    }


class SignoffSpec(Section):
    roles: dict[str, RoleTitle] = Field(default_factory=_default_roles)
    threshold: int | None = Field(
        None, ge=1, description="distinct roles that must approve; None: every role"
    )

    @field_validator("roles")
    @classmethod
    def _role_ids(cls, roles: dict[str, RoleTitle]) -> dict[str, RoleTitle]:
        if not roles:
            raise ValueError("at least one role is needed")
        bad = [r for r in roles if not _ROLE_ID.fullmatch(r)]
        if bad:
            raise ValueError(f"role id '{bad[0]}' must be lower case letters, digits and _")
        return roles

    @field_validator("threshold")
    @classmethod
    def _at_most_all(cls, threshold: int | None, info: ValidationInfo) -> int | None:
        roles = info.data.get("roles")
        if threshold is not None and roles is not None and threshold > len(roles):
            raise ValueError(f"threshold {threshold} is above the number of roles ({len(roles)})")
        return threshold

    @property
    def required(self) -> int:
        """How many distinct roles must approve (the threshold, all roles when it is unset)."""
        return len(self.roles) if self.threshold is None else self.threshold

    def title(self, role: str, lang: Lang) -> str:
        """The role's name in `lang`; an id the spec does not know is shown as it is."""
        found = self.roles.get(role)
        return role if found is None else getattr(found, lang)
