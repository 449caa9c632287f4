"""Server heartbeat: one sweeper for all connections instead of a task per socket.

A connection gets a ping once it has been quiet for `interval_s`; one that has
not answered within `timeout_s` is closed 4008.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from diagops.push.protocol import CLOSE_HEARTBEAT

if TYPE_CHECKING:
    from diagops.push.connection import Connection
    from diagops.push.metrics import Metrics


def sweep(connections: Iterable[Connection], now: float, interval_s: float, timeout_s: float, metrics: Metrics) -> None:
    for conn in connections:
        if conn.closing:
            continue
        if conn.ping_sent_at is None:
            if now - conn.last_seen >= interval_s:
                conn.send_ping()
        elif now - conn.ping_sent_at > timeout_s:
            metrics.heartbeat_timeouts.inc()
            conn.close_soon(CLOSE_HEARTBEAT, "heartbeat timeout", reason="heartbeat")


async def run_heartbeat(connections: Iterable[Connection], interval_s: float, timeout_s: float, metrics: Metrics) -> None:
    tick = max(0.02, min(1.0, min(interval_s, timeout_s) / 4))
    while True:
        await asyncio.sleep(tick)
        sweep(list(connections), time.monotonic(), interval_s, timeout_s, metrics)
