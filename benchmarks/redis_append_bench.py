"""Why the Redis store appends with a Lua compare-and-swap rather than WATCH/MULTI: measured.

Both keep the lifecycle rules in Python (`advance`) and retry on conflict; they
differ in round trips (2 vs 3) and in pinning a connection per attempt.

    .venv/bin/python benchmarks/redis_append_bench.py            # starts its own redis-server
    .venv/bin/python benchmarks/redis_append_bench.py --redis-url redis://host:6379/15

Runs three shapes against each: one publisher on one execution (latency), 200
executions published concurrently (throughput), and 2 stores x 20 tasks on ONE
execution (contention). Keys use a throwaway prefix and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

from redis.exceptions import WatchError

from diagops.push.lifecycle import Snapshot, advance
from diagops.push.protocol import utc_timestamp
from diagops.push.store.base import Update
from diagops.push.store.redis import RedisStore, RedisStoreConfig, encode_envelope

try:
    from benchmarks.redis_server import local_redis
except ImportError:  # run as a script: benchmarks/ is on sys.path, the repo root may not be
    from redis_server import local_redis  # type: ignore[no-redef]


class WatchMultiStore(RedisStore):
    """The alternative: WATCH the log, read, advance(), MULTI..EXEC, retry on WatchError."""

    async def _append_with_retries(self, execution_id: str, event: str, data: dict[str, Any], owner: str | None, lang: str | None) -> Update:
        snap_key, events_key = self._snap_key(execution_id), self._events_key(execution_id)
        async with self._slot(), self._redis().pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(events_key)
                    raw = await pipe.get(snap_key)
                    current = None if raw is None else Snapshot.from_dict(json.loads(raw))
                    now = time.time()
                    timestamp = utc_timestamp(now)
                    snapshot, stored = advance(current, execution_id, event, data, timestamp=timestamp, now=now,
                                               owner=owner, lang=lang, max_events=self.config.max_events_per_execution)
                    update = Update.build(execution_id, snapshot.seq, timestamp, event, stored, now)
                    envelope = encode_envelope(update)
                    pipe.multi()
                    pipe.set(snap_key, json.dumps(snapshot.to_dict(), ensure_ascii=False))
                    pipe.rpush(events_key, envelope)
                    pipe.publish(self._channel, envelope)
                    await pipe.execute()
                    return update
                except WatchError:
                    self.append_conflicts += 1
                    continue


async def shape(store: RedisStore, others: list[RedisStore], name: str, executions: int, per: int, tasks: int) -> dict[str, Any]:
    latencies: list[float] = []
    stores = [store, *others]

    async def one(index: int) -> None:
        target = stores[index % len(stores)]
        for i in range(per):
            execution_id = f"{name}-{index % executions}"
            began = time.perf_counter()
            await target.publish(execution_id, "progress", {"progress": 0, "i": i}, owner="bench")
            latencies.append(time.perf_counter() - began)

    conflicts_before = sum(s.append_conflicts for s in stores)
    began = time.perf_counter()
    await asyncio.gather(*(one(t) for t in range(tasks)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "publishes_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
        "conflicts": sum(s.append_conflicts for s in stores) - conflicts_before,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", help="an existing Redis (default: start a throwaway redis-server)")
    parser.add_argument("--scale", type=int, default=1, help="multiply the number of publishes")
    args = parser.parse_args()
    if args.redis_url:
        await run(args.redis_url, args.scale)
    else:
        with local_redis() as redis_server:
            await run(redis_server.url, args.scale)


async def run(url: str, scale: int) -> None:
    results: dict[str, Any] = {}
    for label, cls in (("lua_cas", RedisStore), ("watch_multi", WatchMultiStore)):
        prefix = f"bench-{uuid.uuid4().hex[:8]}:"
        config = RedisStoreConfig(url=url, prefix=prefix, max_events_per_execution=10**9)
        a, b = cls(config), cls(config)
        await a.start()
        await b.start()
        try:
            results[label] = {
                "sequential_1_execution": await shape(a, [], "seq", 1, 2000 * scale, 1),
                "concurrent_200_executions": await shape(a, [], "many", 200, 20 * scale, 200),
                "contended_2_stores_40_tasks_1_execution": await shape(a, [b], "hot", 1, 50 * scale, 40),
            }
        finally:
            keys = [k async for k in a._redis().scan_iter(match=f"{prefix}*", count=1000)]
            for start in range(0, len(keys), 500):
                await a._redis().delete(*keys[start:start + 500])
            await a.close()
            await b.close()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
