"""The fan-out step list: increasing, 1-2-5 in between, the bound last."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diagops.bench.fanout import judge_step, step_list


def test_the_usual_steps():
    assert step_list(100, 2000) == [100, 200, 500, 1000, 2000]
    assert step_list(100, 3000) == [100, 200, 500, 1000, 2000, 3000]
    assert step_list(7, 7) == [7]


@given(start=st.integers(1, 5000), extra=st.integers(0, 100_000))
def test_steps_are_strictly_increasing_from_start_to_bound(start, extra):
    steps = step_list(start, start + extra)
    assert steps[0] == start and steps[-1] == start + extra
    assert all(a < b for a, b in zip(steps, steps[1:]))


def test_a_bound_below_the_start_is_refused():
    with pytest.raises(ValueError):
        step_list(100, 50)


def raw_step(p99: float, limited_by: str = "none: target rate delivered", missing: int = 0) -> dict:
    return {"sockets": 100, "executions": 100, "fanout": 1, "delivered_msgs_per_s": 100.0, "target_msgs_per_s": 100.0,
            "delivered_vs_target": 1.0, "latency_ms": {"server_timestamp": {"p50": 2.0, "p99": p99}},
            "integrity": {"missing": missing, "gaps": 0, "dropped_sockets": 0}, "connect": {"failed": {}},
            "server_cpu": {"us_per_msg": 300.0}, "server_rss_mib": 60.0, "limited_by": limited_by}


def test_a_step_holds_within_the_threshold_and_without_loss():
    assert judge_step(raw_step(20.0), 1000.0)["held"]
    assert judge_step(raw_step(1500.0), 1000.0)["broken"] == ["delivery p99 1500.0 ms > 1000 ms"]
    assert not judge_step(raw_step(20.0, missing=3), 1000.0)["held"]


def test_a_saturated_load_client_is_named_as_the_limit():
    row = judge_step(raw_step(1500.0, "client subscriber-0 (97% of a core)"), 1000.0)
    assert row["client_limited"] and not row["held"]
