"""The spec's signoff section: four roles by default, all of them required; bad values name their key."""

from __future__ import annotations

import pytest

from diagops.spec import SpecError, load_spec


def test_by_default_the_four_roles_must_all_approve() -> None:
    signoff = load_spec(None, env={}).signoff
    assert list(signoff.roles) == ["chief_architect", "tech_director", "product_manager", "project_manager"]
    assert (signoff.required, signoff.title("tech_director", "zh"), signoff.title("cto", "en")) == (4, "技术总监", "cto")


def test_the_threshold_can_be_lowered_from_the_environment() -> None:
    assert load_spec(None, env={"DIAGOPS_SIGNOFF__THRESHOLD": "3"}).signoff.required == 3


@pytest.mark.parametrize(("text", "message"), [
    ("signoff:\n  threshold: 5\n", "'signoff.threshold': Value error, threshold 5 is above the number of roles (4) (got 5)"),
    ("signoff:\n  threshold: 0\n", "'signoff.threshold'"),
    ("signoff:\n  roles: {}\n", "at least one role is needed"),
    ("signoff:\n  roles: {CTO: {zh: 首席技术官, en: CTO}}\n", "role id 'CTO' must be lower case"),
    ("signoff:\n  roles: {cto: {zh: 首席技术官}}\n", "'signoff.roles.cto.en'"),
    ("signoff:\n  quorum: 2\n", "unknown key 'signoff.quorum'"),
])
def test_bad_signoff_values_name_the_key(tmp_path, text: str, message: str) -> None:
    config = tmp_path / "d.yaml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as error:
        load_spec(config, env={})
    assert message in str(error.value)


def test_a_smaller_set_of_roles_with_its_own_threshold() -> None:
    spec = load_spec(None, env={}, overrides={"signoff.roles": {"owner": {"zh": "负责人", "en": "Owner"}},
                                              "signoff.threshold": 1})
    assert (list(spec.signoff.roles), spec.signoff.required) == (["owner"], 1)
