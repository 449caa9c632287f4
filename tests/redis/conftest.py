"""The Redis tier: every test here talks to a redis-server this file starts on a free port.

Most tests share one session server and keep apart by key prefix; tests that
kill, restart or pause Redis take `own_redis`, a server of their own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from redis_fixtures import REDIS_SERVER, RedisServer

from diagops.push.store.base import OnOperation
from diagops.push.store.redis import RedisStore, RedisStoreConfig

if not os.access(REDIS_SERVER, os.X_OK) and not os.environ.get("CI"):
    # On a laptop without Redis the tier is skipped; in CI (where `make test` installs it) the
    # tests run and fail loudly instead, so a missing install step cannot pass unnoticed.
    pytest.skip(f"the Redis tier needs redis-server ({REDIS_SERVER} not found)", allow_module_level=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis-shared"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()  # SIGKILL also ends a paused (SIGSTOPped) server


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}:"


MakeStore = Callable[..., Awaitable[RedisStore]]


@pytest.fixture
async def make_store(redis_server: RedisServer, prefix: str) -> AsyncIterator[MakeStore]:
    """Started RedisStores sharing one prefix (as processes share one Redis), closed at teardown.

    Keyword arguments override RedisStoreConfig fields (`url` picks another server);
    `on_operation` is the store's operation observer.
    """
    stores: list[RedisStore] = []

    async def make(*, on_operation: OnOperation | None = None, **overrides: object) -> RedisStore:
        config = RedisStoreConfig(**{"url": redis_server.url, "prefix": prefix, **overrides})  # type: ignore[arg-type]
        store = RedisStore(config, on_operation=on_operation)
        await store.start()
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()
