"""The spec: the committed diagops.yaml is the defaults written out; overrides layer in order."""

from __future__ import annotations

import pytest

from diagops.spec import Spec, SpecError, load_spec
from tests.servicekit import REPO


def test_the_committed_spec_is_exactly_the_embedded_defaults():
    assert load_spec(REPO / "diagops.yaml", env={}) == Spec()


def test_precedence_is_defaults_then_file_then_env_then_flags(tmp_path):
    config = tmp_path / "d.yaml"
    config.write_text("service:\n  port: 1000\n  host: 0.0.0.0\nengine:\n  speed: 2\n")
    spec = load_spec(config, env={"DIAGOPS_PORT": "2000", "DIAGOPS_ENGINE__SPEED": "3",
                                  "DIAGOPS_ENGINE__PLATFORMS": "[a, b]"},
                     overrides={"service.port": 3000, "service.host": None})
    assert (spec.service.port, spec.service.host, spec.engine.speed) == (3000, "0.0.0.0", 3.0)
    assert spec.engine.platforms == ["a", "b"]


def test_redis_url_is_one_url_or_a_list_of_shards_from_any_layer(tmp_path):
    config = tmp_path / "d.yaml"
    config.write_text("service:\n  redis_url: [redis://a:6379/0, rediss://b:6380/1]\n")
    assert load_spec(config, env={}).service.redis_urls == ("redis://a:6379/0", "rediss://b:6380/1")
    assert load_spec(None, env={"DIAGOPS_REDIS_URL": "redis://c/0"}).service.redis_urls == ("redis://c/0",)
    from_env = load_spec(config, env={"DIAGOPS_REDIS_URL": "[redis://c/0, redis://d/0]"})  # replaces the file's list
    assert from_env.service.redis_urls == ("redis://c/0", "redis://d/0")
    assert load_spec(None, env={}).service.redis_urls == ()
    with pytest.raises(SpecError, match="empty list"):
        load_spec(None, env={"DIAGOPS_REDIS_URL": "[]"})


def test_no_file_means_the_built_in_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_spec(None, env={}) == Spec()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("engine:\n  sped: 2\n", "unknown key 'engine.sped'"),
        ("nonsense: 1\n", "unknown key 'nonsense'"),
        ("slo:\n  error_rate:\n    max_ratio: 2\n", "'slo.error_rate.max_ratio'"),
        ("- a\n", "the top level must be a mapping"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path, text, message):
    config = tmp_path / "d.yaml"
    config.write_text(text)
    with pytest.raises(SpecError) as error:
        load_spec(config, env={})
    assert str(config) in str(error.value) and message in str(error.value)


def test_an_unknown_env_section_is_an_error_naming_it():
    with pytest.raises(SpecError, match="unknown key 'servce'"):
        load_spec(None, env={"DIAGOPS_SERVCE__PORT": "1"})


def test_the_service_histograms_use_the_spec_bounds_and_alerts_need_no_service_import():
    import subprocess
    import sys

    from diagops.push.metrics import Metrics
    from diagops.spec.histograms import DURATION_BUCKETS, LATENCY_BUCKETS, STORE_BUCKETS

    metrics = Metrics()
    for histogram, bounds in ((metrics.push_latency, LATENCY_BUCKETS), (metrics.diagnosis_duration, DURATION_BUCKETS),
                              (metrics.store_operation.labels("publish"), STORE_BUCKETS)):
        assert tuple(histogram._upper_bounds[:-1]) == bounds
    # Generating rules reads the bounds from the spec: the service (and prometheus_client's
    # process-wide disable_created_metrics()) stays out of the alerts command.
    probe = ("import sys; from diagops.alerts.generate import check_spec; from diagops.spec import Spec; "
             "check_spec(Spec()); print(sorted(m for m in sys.modules if m.startswith(('diagops.push', 'prometheus_client'))))")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "[]"
