"""The SLO spec: the documented default objectives, burn rates derived from the window, errors that name the key."""

from __future__ import annotations

import os

import pytest

from diagops.spec import Spec, SpecError, load_spec
from diagops.spec.slo import BurnRateWindow


def test_defaults_are_the_documented_objectives() -> None:
    slo = Spec().slo
    assert (slo.delivery_latency.threshold_s, slo.delivery_latency.target) == (1.0, 0.95)
    assert slo.error_rate.max_ratio == 0.005 and slo.window_days == 30
    assert slo.cache_hit.min_hit_ratio == 0.80 and slo.coverage.min_ratio == 0.85
    assert slo.capacity.required_connections == 100


def test_workbook_burn_rates_follow_from_a_30_day_window() -> None:
    windows = Spec().slo.alerting.burn_rate_windows
    assert [(w.severity, w.long_window, w.short_window, w.factor(30)) for w in windows] == [
        ("page", "1h", "5m", 14.4), ("page", "6h", "30m", 6.0), ("ticket", "1d", "2h", 3.0), ("ticket", "3d", "6h", 1.0)]


def test_a_28_day_window_scales_the_burn_rates() -> None:
    assert Spec().slo.alerting.burn_rate_windows[0].factor(28) == 13.44


def test_an_explicit_burn_rate_is_used_as_given() -> None:
    assert BurnRateWindow(severity="page", long_window="20s", short_window="5s", burn_rate=14.4).factor(1) == 14.4


def test_loading_errors_name_the_key(tmp_path) -> None:
    path = tmp_path / "diagops.yaml"
    path.write_text("slo:\n  cache_hit:\n    min_hit_ratio: 1.5\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"'slo.cache_hit.min_hit_ratio'"):
        load_spec(path, env={})
    path.write_text("slo:\n  alerting:\n    burn_rate_windows:\n      - {severity: page, long_window: 1h, short_window: 5m}\n")
    with pytest.raises(SpecError, match="exactly one of budget_consumed and burn_rate"):
        load_spec(path, env={})
    path.write_text("slo:\n  alerting:\n    burn_rate_windows:\n      - {severity: ticket, long_window: 1d, short_window: 2h, burn_rate: 3}\n")
    with pytest.raises(SpecError, match="at least one 'page' window"):
        load_spec(path, env={})


def test_the_test_profile_loads_and_only_shortens_watching() -> None:
    from tests.monitoring.promkit import PROFILE

    profile = load_spec(PROFILE, env={}).slo
    default = load_spec(os.devnull, env={}).slo
    assert profile.error_rate == default.error_rate and profile.delivery_latency == default.delivery_latency
    assert profile.cache_hit == default.cache_hit
    assert [w.factor(profile.window_days) for w in profile.alerting.burn_rate_windows] == [14.4, 6, 3, 1]
