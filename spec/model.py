"""Pydantic model of `diagops.yaml`: service settings, SLOs, load-test settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from diagops.spec.loadtest import LoadtestSpec
from diagops.spec.model_base import Section
from diagops.spec.signoff import SignoffSpec
from diagops.spec.slo import SloSpec
from diagops.spec.urls import REDIS_SCHEMES, url_problem
from diagops.spec.verify import VerifySpec


class ServiceSpec(Section):
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    log_format: Literal["text", "json"] = "text"
    redis_url: str | list[str] | None = Field(
        None, description="one Redis URL, or a list of them: shards, each execution on one (push/store/sharded.py)",
    )
    workers: int = Field(1, ge=1, le=64)
    shutdown_grace_s: float = Field(5.0, ge=0)

    @field_validator("redis_url")
    @classmethod
    def _redis_urls_are_urls(cls, value: str | list[str] | None) -> str | list[str] | None:
        """A wrong URL fails here, naming the key, rather than as a connection error at start."""
        urls = [value] if isinstance(value, str) else value or []
        if isinstance(value, list) and not value:
            raise ValueError("an empty list names no Redis; leave it out (null) for the memory store")
        for url in urls:
            problem = url_problem(url, REDIS_SCHEMES)
            if problem:
                raise ValueError(f"{url!r} is not a Redis URL: {problem} (e.g. redis://127.0.0.1:6379/0)")
        if len(set(urls)) != len(urls):
            raise ValueError("a Redis URL is listed twice: each shard is a different server")
        return value

    @property
    def redis_urls(self) -> tuple[str, ...]:
        """The Redis shards, in the order given (empty: the memory store)."""
        if self.redis_url is None:
            return ()
        return (self.redis_url,) if isinstance(self.redis_url, str) else tuple(self.redis_url)


class AuthSpec(Section):
    jwt_secret: str | None = None
    jwt_secret_file: str | None = None
    algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    default_lang: Literal["zh", "en"] = "zh"


class LimitsSpec(Section):
    max_frame_bytes: int = Field(64 * 1024, ge=128)
    max_subscriptions: int = Field(100, ge=1)
    connection_rate: float = Field(100.0, gt=0, description="new connections per second per client address")
    connection_burst: int = Field(200, ge=1)
    max_connections: int = Field(10_000, ge=1)
    max_send_queue_bytes: int = Field(1024 * 1024, ge=1024)
    max_batch_events: int = Field(1000, ge=1, description="items in one POST /api/v1/events")
    max_batch_bytes: int = Field(1024 * 1024, ge=1024, description="body of one POST /api/v1/events")
    max_queue_wait_s: float | None = Field(
        10.0, gt=0, description="refuse new diagnoses (503 overloaded) when the queue's expected wait passes this; null: never"
    )
    max_diagnoses_per_user: int | None = Field(
        50, ge=1, description="active plus queued diagnoses one user may have (then 429 too_many_diagnoses); null: no bound"
    )
    request_head_timeout_s: float = Field(10.0, gt=0, description="a connection must finish its request's headers within this")
    max_unfinished_connections: int = Field(1000, ge=1, description="connections still sending a request head, at once")


class HeartbeatSpec(Section):
    interval_s: float = Field(25.0, gt=0)
    timeout_s: float = Field(8.0, gt=0)


class EngineSpec(Section):
    speed: float = Field(1.0, gt=0, description="1.0 is realistic (~20 s a diagnosis); 50 makes one take ~0.4 s")
    platforms: list[str] = ["deepseek", "doubao", "qwen", "kimi", "wenxin"]
    failure_rate: float = Field(0.0, ge=0, le=1)
    failure_type: Literal["AI_PLATFORM_ERROR", "TIMEOUT", "RATE_LIMITED", "INVALID_REQUEST", "INTERNAL"] = "AI_PLATFORM_ERROR"
    added_latency_s: float = Field(0.0, ge=0, description="extra delay before every event is published")
    max_concurrent_diagnoses: int = Field(50, ge=1)
    max_concurrent_ai_calls: int = Field(20, ge=1)
    seed: int | None = None


class CacheSpec(Section):
    ttl_s: float = Field(3600.0, ge=0)
    max_entries: int = Field(10_000, ge=0)
    policy: Literal["tinylfu", "lru"] = Field(
        "tinylfu", description="eviction: W-TinyLFU (frequency-aware admission) or plain LRU, the policy before it",
    )


class StoreSpec(Section):
    retention_s: float = Field(24 * 3600.0, gt=0, description="how long a finished execution is kept")
    abandoned_after_s: float = Field(
        7 * 24 * 3600.0, gt=0, description="an unfinished execution with no event for this long is dropped"
    )
    max_events_per_execution: int = Field(1000, ge=10)
    max_bytes: int = Field(
        256 * 1024 * 1024, ge=64 * 1024,
        description="memory store budget: stored events and snapshots, in bytes (the Redis store ignores it)",
    )


class Spec(Section):
    version: Literal[1] = 1
    service: ServiceSpec = ServiceSpec()
    auth: AuthSpec = AuthSpec()
    limits: LimitsSpec = LimitsSpec()
    heartbeat: HeartbeatSpec = HeartbeatSpec()
    engine: EngineSpec = EngineSpec()
    cache: CacheSpec = CacheSpec()
    store: StoreSpec = StoreSpec()
    slo: SloSpec = SloSpec()
    loadtest: LoadtestSpec = LoadtestSpec()
    verify: VerifySpec = VerifySpec()
    signoff: SignoffSpec = SignoffSpec()
