"""Shared fixtures: a real push service, in-process on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from diagops.push import keys
from diagops.push.app import create_app
from diagops.push.controller import ConcurrencyController
from diagops.push.engine import SimulatedEngine
from diagops.push.hub import Hub
from diagops.push.metrics import Metrics
from diagops.push.open_connections import OpenConnections
from diagops.push.store import Store, Update
from diagops.spec import Spec
from diagops.push.protocol import ws_url_for
from tests.servicekit import SECRET, metric_types, test_spec, token


@dataclass(frozen=True)
class ServiceParts:
    """A running service's resources, read from their app keys, for tests to inspect."""

    app: web.Application

    @property
    def spec(self) -> Spec:
        return self.app[keys.SPEC]

    @property
    def store(self) -> Store:
        return self.app[keys.STORE]

    @property
    def metrics(self) -> Metrics:
        return self.app[keys.METRICS]

    @property
    def hub(self) -> Hub:
        return self.app[keys.HUB]

    @property
    def engine(self) -> SimulatedEngine:
        return self.app[keys.ENGINE]

    @property
    def controller(self) -> ConcurrencyController:
        return self.app[keys.ENGINE].controller

    @property
    def connections(self) -> OpenConnections:
        return self.app[keys.CONNECTIONS]

    @property
    def publish(self) -> Callable[..., Awaitable[Update]]:
        """The service's one way in for an event (the engine's and the publish API's)."""
        return self.app[keys.PUBLISHER].publish


@dataclass
class LiveService:
    """A running service and a client session bound to it."""

    server: TestServer
    app: web.Application
    session: aiohttp.ClientSession

    @property
    def state(self) -> ServiceParts:
        return ServiceParts(self.app)

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def ws_url(self) -> str:
        return ws_url_for(self.url)

    def token(self, user: str = "alice", scopes: tuple[str, ...] = ("subscribe",), **kw: Any) -> str:
        return token(user, scopes, **kw)

    def auth(self, user: str = "alice", scopes: tuple[str, ...] = ("subscribe",)) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, scopes)}"}

    async def start_diagnosis(self, user: str = "alice", **body: Any) -> dict[str, Any]:
        body.setdefault("brand", "Acme")
        async with self.session.post(f"{self.url}/api/v1/diagnoses", json=body, headers=self.auth(user)) as resp:
            assert resp.status == 202, await resp.text()
            return await resp.json()

    async def connect(self, user: str = "alice", **kw: Any) -> aiohttp.ClientWebSocketResponse:
        return await self.session.ws_connect(self.ws_url, headers=self.auth(user), **kw)

    async def metric_types(self) -> dict[str, str]:
        """What its `/metrics` exposes: family name as queried -> type."""
        async with self.session.get(f"{self.url}/metrics") as resp:
            assert resp.status == 200
            return metric_types(await resp.text())


StartService = Callable[..., Awaitable[LiveService]]


@pytest.fixture
async def start_service() -> AsyncIterator[StartService]:
    """Factory: `await start_service(**{"engine.speed": 50})` -> a LiveService (dotted spec overrides)."""
    started: list[tuple[TestServer, aiohttp.ClientSession]] = []

    async def start(**overrides: Any) -> LiveService:
        app = create_app(test_spec(**overrides), secret=SECRET)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        session = aiohttp.ClientSession()
        started.append((server, session))
        return LiveService(server, app, session)

    yield start
    for server, session in reversed(started):
        await session.close()
        await server.close()


@pytest.fixture
async def service(start_service: StartService) -> LiveService:
    return await start_service()
