"""The typed app keys under which the service keeps its resources (aiohttp's `web.AppKey`).

One key per resource, so a handler names exactly what it uses and each
cleanup context starts and stops exactly one thing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from diagops.push.auth import TokenVerifier
from diagops.push.engine import SimulatedEngine
from diagops.push.hub import Hub
from diagops.push.limits import RateLimiter
from diagops.push.metrics import Metrics
from diagops.push.open_connections import OpenConnections
from diagops.push.publishing import Publisher
from diagops.push.store.base import Store
from diagops.spec import Spec

if TYPE_CHECKING:
    from diagops.push.webpage import StaticFile

ReadyCheck = Callable[[], Awaitable[None]]

SPEC = web.AppKey("spec", Spec)
METRICS = web.AppKey("metrics", Metrics)
STORE = web.AppKey("store", Store)
# The store's ping when it has a backend to lose, else None (decided once, when the app is built).
READY_CHECK: web.AppKey[ReadyCheck | None] = web.AppKey("ready_check")
PUBLISHER = web.AppKey("publisher", Publisher)
HUB = web.AppKey("hub", Hub)
ENGINE = web.AppKey("engine", SimulatedEngine)
VERIFIER = web.AppKey("verifier", TokenVerifier)
RATE = web.AppKey("rate", RateLimiter)
CONNECTIONS = web.AppKey("connections", OpenConnections)
# The page and its static files, read once when the app is built (push/webpage.py).
STATIC_FILES: web.AppKey[dict[str, StaticFile]] = web.AppKey("static_files")
