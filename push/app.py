"""The aiohttp application factory: resources on typed keys, each started in cleanup_ctx.

Each resource's teardown runs only if its own start-up succeeded; `on_shutdown`
drains every connection's queued frames and then closes it with 1001, so
clients reconnect with `last_seq` and lose nothing that was accepted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from diagops.push import protocol as p
from diagops.push.auth import TokenVerifier
from diagops.push.controller import ConcurrencyController
from diagops.push.engine import SimulatedEngine, nominal_duration_s
from diagops.push.gc_pauses import GcPauses
from diagops.push.heartbeat import run_heartbeat
from diagops.push.http_api import routes
from diagops.push.http_util import json_error
from diagops.push.hub import Hub
from diagops.push.keys import CONNECTIONS, ENGINE, HUB, METRICS, PUBLISHER, RATE, READY_CHECK, SPEC, STORE, VERIFIER
from diagops.push.limits import RateLimiter
from diagops.push.metrics import Metrics
from diagops.push.open_connections import OpenConnections
from diagops.push.publishing import Publisher
from diagops.push.store import Pingable, StoreUnavailable, open_store
from diagops.push.store.base import Budgeted, StoreFull
from diagops.push.webpage import add_page_routes
from diagops.push.ws import websocket_handler
from diagops.spec import Spec

log = logging.getLogger("diagops.app")

RETRY_AFTER_S = "1"  # seconds a client waits before retrying a request the store could not serve
STORE_FULL_RETRY_AFTER_S = "5"  # running diagnoses must finish (or be delivered) before room is made

def create_app(spec: Spec, *, secret: str, metrics: Metrics | None = None) -> web.Application:
    """Build the service from its spec, each part from the parts it needs; nothing starts
    until the app runs."""
    metrics = metrics or Metrics()
    store = open_store(spec, on_operation=metrics.observe_store)
    publisher = Publisher(store, metrics, cache_ttl_s=spec.cache.ttl_s)
    controller = ConcurrencyController(spec.engine.max_concurrent_diagnoses, spec.engine.max_concurrent_ai_calls, metrics,
                                       max_queue_wait_s=spec.limits.max_queue_wait_s,
                                       max_per_user=spec.limits.max_diagnoses_per_user,
                                       expected_slot_s=nominal_duration_s(spec.engine))

    app = web.Application(middlewares=[_json_errors], client_max_size=max(spec.limits.max_frame_bytes, spec.limits.max_batch_bytes))
    app[SPEC] = spec
    app[METRICS] = metrics
    app[STORE] = store
    app[READY_CHECK] = store.ping if isinstance(store, Pingable) else None
    app[PUBLISHER] = publisher
    app[HUB] = hub = Hub(store)
    if isinstance(store, Budgeted):  # the hub protects what it has not sent; metrics read the usage
        store.watch(hub.delivery_floor, metrics.observe_eviction)
        metrics.watch_store(store.usage)
    app[ENGINE] = SimulatedEngine(spec.engine, controller, publisher.publish, publisher.cache_result)
    app[VERIFIER] = TokenVerifier(secret, spec.auth.algorithm)
    app[RATE] = RateLimiter(spec.limits.connection_rate, spec.limits.connection_burst)
    app[CONNECTIONS] = OpenConnections()
    app.router.add_get("/ws", websocket_handler)
    app.router.add_routes(routes)
    add_page_routes(app, spec)
    app.cleanup_ctx.extend([_gc_ctx, _store_ctx, _hub_ctx, _heartbeat_ctx, _engine_ctx])
    app.on_shutdown.append(_close_connections)
    return app


async def _gc_ctx(app: web.Application) -> AsyncIterator[None]:
    pauses = GcPauses(app[METRICS].gc_pause)
    pauses.start()
    yield
    pauses.stop()


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    await store.start()
    yield
    await store.close()


async def _hub_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(_run_hub(app[HUB]))
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _run_hub(hub: Hub) -> None:
    while True:
        try:
            await hub.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the live feed failed; restarting it and resyncing subscribers")
            await asyncio.sleep(0.5)
            hub.resync()


async def _heartbeat_ctx(app: web.Application) -> AsyncIterator[None]:
    hb = app[SPEC].heartbeat
    task = asyncio.get_running_loop().create_task(run_heartbeat(app[CONNECTIONS], hb.interval_s, hb.timeout_s, app[METRICS]))
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _engine_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[ENGINE].stop()


async def _close_connections(app: web.Application) -> None:
    connections = app[CONNECTIONS]
    connections.draining = True
    grace = app[SPEC].service.shutdown_grace_s
    closing = list(connections)
    await asyncio.gather(*(c.drain(grace) for c in closing), return_exceptions=True)
    await asyncio.gather(
        *(c.close(p.CLOSE_GOING_AWAY, "server shutting down", reason="shutdown") for c in closing),
        return_exceptions=True,
    )


@web.middleware
async def _json_errors(request: web.Request, handler):  # noqa: ANN001, ANN202 - aiohttp middleware signature
    """Every error leaves as the contract's JSON body; a bug never shows its traceback. A store
    that does not answer is one 503 for every handler, saying when to try again."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status, "http_error")
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}  # a 405 says what is allowed
        return json_error(exc.status, code, exc.reason, **allow)
    except StoreUnavailable:
        return json_error(503, "store_unavailable", "the service's store is not answering; try again shortly",
                          **{"Retry-After": RETRY_AFTER_S})
    except StoreFull:
        return json_error(503, "store_full", "the service's store is full of running diagnoses; try again shortly",
                          **{"Retry-After": STORE_FULL_RETRY_AFTER_S})
    except (asyncio.CancelledError, ConnectionError):
        raise  # a client that left mid-request: aiohttp drops it quietly
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal", "internal error; it has been logged")
