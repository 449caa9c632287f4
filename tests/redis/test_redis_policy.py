"""`serve --redis-url` warns at start when Redis may evict a running stream's keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis_fixtures import RedisServer

from diagops.push.store.redis_policy import SAFE_POLICIES, eviction_policy_warning
from tests.servicekit import serve_process

WARNING = "Redis maxmemory-policy is allkeys-lru"


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
def test_allkeys_policies_are_warned_about(policy: str) -> None:
    warning = eviction_policy_warning(policy)
    assert warning is not None and policy in warning and "noeviction" in warning


@pytest.mark.parametrize("policy", [*SAFE_POLICIES, ""])
def test_policies_that_keep_streams_whole_are_not(policy: str) -> None:
    assert eviction_policy_warning(policy) is None


def test_serve_warns_at_start_on_a_redis_with_an_allkeys_policy(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "lru", options=("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")).start()
    try:
        with serve_process(tmp_path, args=["--redis-url", redis.url]) as svc:
            log = svc.log()  # serving: the store started, and checked the policy first
        assert WARNING in log and "WARNING" in log.upper()
    finally:
        redis.kill()


def test_serve_says_nothing_on_a_redis_with_noeviction(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "safe", options=("--maxmemory-policy", "noeviction")).start()
    try:
        with serve_process(tmp_path, args=["--redis-url", redis.url]) as svc:
            log = svc.log()
        assert "serving on" in log and "maxmemory-policy" not in log
    finally:
        redis.kill()
