"""The brands simulated users ask about: a skewed catalogue, as real traffic is."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from diagops.loadtests.catalogue import BrandCatalogue
from diagops.loadtests.plan import Plan
from diagops.spec import load_spec


def _draws(catalogue: BrandCatalogue, n: int = 20_000) -> Counter[str]:
    rng = random.Random(7)
    return Counter(catalogue.draw(rng) for _ in range(n))


def test_the_kth_brand_is_asked_about_one_over_k_to_the_skew_as_often_as_the_first():
    counts = _draws(BrandCatalogue("run1", size=50, skew=1.0))
    first, second, tenth = counts["run1-brand-1"], counts["run1-brand-2"], counts["run1-brand-10"]
    assert first / second == pytest.approx(2.0, rel=0.15) and first / tenth == pytest.approx(10.0, rel=0.25)
    assert set(counts) <= {f"run1-brand-{k}" for k in range(1, 51)}


def test_skew_0_is_uniform():
    counts = _draws(BrandCatalogue("r", size=10, skew=0.0))
    assert len(counts) == 10 and max(counts.values()) / min(counts.values()) < 1.2


def test_the_catalogue_comes_from_diagops_yaml_and_reaches_the_generator(tmp_path):
    config = tmp_path / "diagops.yaml"
    config.write_text("loadtest:\n  brands: {count: 30, skew: 1.3}\n")
    spec = load_spec(config, env={})
    assert (spec.loadtest.brands.count, spec.loadtest.brands.skew) == (30, 1.3)
    plan = Plan(host="http://h", users=1, spawn_rate=1, duration_s=1, out=tmp_path, brands=30, brand_skew=1.3,
                brand_prefix="run-x")
    args = plan.scenario_args()
    assert args[args.index("--brands") + 1] == "30" and args[args.index("--brand-skew") + 1] == "1.3"
    assert args[args.index("--brand-prefix") + 1] == "run-x"


def test_each_run_has_its_own_prefix_so_it_starts_with_a_cold_cache(tmp_path):
    one = Plan(host="http://h", users=1, spawn_rate=1, duration_s=1, out=tmp_path)
    two = Plan(host="http://h", users=1, spawn_rate=1, duration_s=1, out=tmp_path)
    assert one.brand_prefix != two.brand_prefix
