"""The Redis store: what lets several `diagops serve` processes share one state.

Same semantics as memory.py (the reference), kept in Redis so any process can
publish, replay and poll any execution:

- `{prefix}{<execution>}:events` is a list of the execution's events (seq n is
  entry n); `{prefix}{<execution>}:snap` a hash of its snapshot (owner
  included) as JSON plus the snapshot's version. The braces are a hash tag:
  one execution's keys share a Cluster slot, so the append script may touch both.
- Seq assignment: optimistic compare-and-swap. `publish` takes the snapshot
  (remembered from this process's last append to that execution, else read),
  applies `lifecycle.advance` in Python (the rules exist once, whatever the
  backend), then runs redis_append.lua, which writes only if the stored
  version and log length are still those it validated against. A conflict
  (another process appended first) hands back the stored snapshot and
  `publish` re-validates against it; a refusal judged on a remembered snapshot
  is re-judged on the stored one. Why not WATCH/MULTI: the same optimistic
  scheme, but three round trips (WATCH, GET, MULTI..EXEC) with a pinned
  connection, against one or two here, and ~1.5x fewer publishes/s
  (benchmarks/redis_append_bench.py). The script writes the event, the
  snapshot, the retention TTL and the PUBLISH in one atomic step, so an event
  is stored and broadcast together or not at all. Why not Streams ids: they
  are not gap-free 1..N, and the contract's `seq` is.
- Batches (`publish_many`, what `POST /api/v1/events` uses): every item judged
  as above, chained within an execution, and all appends sent in ONE script
  call (redis_append_many.lua), after one pipelined read of the snapshots
  this process does not remember; see redis_batch.py for what falls back to
  the per-item path (a conflict, a refusal judged on a remembered snapshot).
  The script broadcasts the batch's events in one PUBLISH (envelopes joined by
  newlines; LiveFeed splits them), written inside the same atomic step as the
  events: a process that dies mid-batch leaves either the whole script's
  writes and its broadcast, or nothing; it cannot store without broadcasting.
  What it can leave is the publisher without an answer, which a retry with
  the same idempotency key settles (answered as a duplicate, stored once).
  A process of an older version cannot decode a batch message (it logs it
  and drops it); its hub fills the gap from the log at that execution's next
  event, so during a rolling deploy its subscribers may see batch events late.
- Finished executions expire `retention_s` after their final event; the event
  cap refuses the event past `max_events_per_execution` (TooManyEvents), as in
  memory, so a log never needs trimming.
- The result cache is one key per entry with a TTL, capped at `cache_max_entries`
  by the policy `cache_policy` names, the same as memory.py's (cache_policy.py):
  `tinylfu` keeps three recency-ordered zsets (window, probation, protected) and
  a count-min sketch of 4-bit BITFIELD counters under `{prefix}{cache}:tlfu:`
  (redis_tinylfu_*.lua); `lru` one shared LRU index (redis_cache_*.lua).
- `listen()` is pub/sub through redis_feed.LiveFeed, with RESYNC after every
  reconnection.

Every operation has a socket timeout and no client-side retry, and any Redis
failure becomes StoreUnavailable (callers answer 503). No retry because a
retried append whose first reply was lost would store the event twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from diagops.push.lifecycle import AlreadyStored, PublishRefused, Snapshot, advance
from diagops.push.protocol import utc_timestamp
from diagops.push.store.base import (
    OnOperation, Outcome, Pingable, PublishItem, Resync, Store, StoreUnavailable, Update, common_settings, guarded,
)
from diagops.push.store.cache_policy import POLICIES, TINYLFU
from diagops.push.store.redis_batch import (
    Group, decode_envelope, decode_message, encode_envelope, group_by_execution, snapshot_json, version,
)
from diagops.push.store.broadcast import Broadcast
from diagops.push.store.redis_feed import Backoff, LiveFeed
from diagops.push.store.redis_local import KeyedLocks, RecentSnapshots
from diagops.push.store.redis_policy import eviction_policy_warning
from diagops.push.store.redis_scripts import LuaScript

log = logging.getLogger("diagops.store")

if TYPE_CHECKING:
    from diagops.spec import Spec

T = TypeVar("T")

_UNAVAILABLE = (RedisError, OSError, asyncio.TimeoutError)


@dataclass
class RedisStoreConfig:
    url: str = "redis://127.0.0.1:6379/0"
    prefix: str = "diagops:"
    retention_s: float = 24 * 3600.0
    abandoned_after_s: float = 7 * 24 * 3600.0  # TTL of an unfinished execution, renewed by each event
    max_events_per_execution: int = 1000
    cache_max_entries: int = 10_000
    cache_policy: str = "tinylfu"  # cache_policy.POLICIES
    socket_timeout_s: float = 2.0
    connect_timeout_s: float = 1.0
    max_connections: int = 64  # per process, the live feed's included; callers beyond wait their turn
    feed_quiet_s: float = 5.0  # ping the live feed after this long without traffic
    reconnect_first_s: float = 0.05
    reconnect_cap_s: float = 2.0
    max_append_attempts: int = 100
    recent_snapshots: int = 4096  # running executions whose snapshot this process remembers (0: none)


class Unknown:
    """The snapshot is not known yet (distinct from None, an execution Redis does not hold)."""

    __slots__ = ()


UNKNOWN = Unknown()


class RedisStore:
    """The store interface on Redis; see the module docstring for the layout and why."""

    def __init__(self, config: RedisStoreConfig | None = None, *, on_operation: OnOperation | None = None,
                 listeners: Broadcast[Update | Resync] | None = None) -> None:
        """`listeners`: where the live feed hands updates, when several stores share them (shards)."""
        self.config = config or RedisStoreConfig()
        self._listeners = listeners
        self._observe = guarded(on_operation)
        self.append_conflicts = 0  # CAS retries, for tests and diagnosis
        self._appending = KeyedLocks()
        self._recent = RecentSnapshots(self.config.recent_snapshots)
        if self.config.max_connections < 2:
            raise ValueError("max_connections must be at least 2 (one is the live feed's)")
        self._slots = asyncio.Semaphore(self.config.max_connections - 1)
        self._client: Redis | None = None
        self._feed: LiveFeed | None = None
        prefix = self.config.prefix
        self._channel = f"{prefix}updates"
        self._cache_prefix = f"{prefix}{{cache}}:entry:"
        self._cache_index = f"{prefix}{{cache}}:lru"
        self._cache_clock = f"{prefix}{{cache}}:clock"
        self._tinylfu = self.config.cache_policy == "tinylfu"
        if not self._tinylfu and self.config.cache_policy != "lru":
            raise ValueError(f"cache policy must be one of {', '.join(POLICIES)}, not {self.config.cache_policy!r}")
        self._sizes = TINYLFU.sizes(max(self.config.cache_max_entries, 1))
        tlfu = f"{prefix}{{cache}}:tlfu:"
        if self._tinylfu:  # its own names: a switch of policy starts from an empty cache, not a mixed one
            self._cache_prefix = f"{tlfu}entry:"
        self._tinylfu_keys = [f"{tlfu}{part}" for part in ("window", "probation", "protected", "clock", "sketch", "samples")]
        self._scripts = {name: LuaScript.named(name)
                         for name in ("append", "append_many", "cache_put", "cache_get", "tinylfu_put", "tinylfu_get")}

    @classmethod
    def from_spec(cls, spec: Spec, *, on_operation: OnOperation | None = None, url: str | None = None,
                  listeners: Broadcast[Update | Resync] | None = None) -> RedisStore:
        """Build from `diagops.yaml` settings without connecting (start() connects); `url` picks
        one of several shards (default: the only one)."""
        if url is None:
            if len(spec.service.redis_urls) != 1:
                raise ValueError(f"RedisStore needs one service.redis_url (got {len(spec.service.redis_urls)})")
            url = spec.service.redis_urls[0]
        return cls(RedisStoreConfig(url=url, **common_settings(spec)), on_operation=on_operation, listeners=listeners)

    # -- keys --------------------------------------------------------------

    def _snap_key(self, execution_id: str) -> str:
        return f"{self.config.prefix}{{{execution_id}}}:snap"

    def _events_key(self, execution_id: str) -> str:
        return f"{self.config.prefix}{{{execution_id}}}:events"

    # -- life cycle --------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        # redis-py's pool raises MaxConnectionsError at its limit (100 by default), which
        # would turn a burst of subscribers into 503s from a healthy Redis. `_slot()` queues
        # callers instead, so the pool never reaches its limit (one spare for a live feed
        # reconnecting while its old connection closes).
        pool = ConnectionPool.from_url(
            cfg.url,
            max_connections=cfg.max_connections + 1,
            decode_responses=True,
            socket_timeout=cfg.socket_timeout_s,
            socket_connect_timeout=cfg.connect_timeout_s,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
        )
        self._client = Redis.from_pool(pool)
        try:
            await self._timed("ping", self._client.ping())
        except StoreUnavailable:
            await self._client.aclose()
            self._client = None
            raise
        await self._warn_on_eviction_policy(self._client)
        self._feed = LiveFeed(
            self._client,
            self._channel,
            decode_message,
            quiet_s=cfg.feed_quiet_s,
            pong_timeout_s=cfg.socket_timeout_s,
            backoff=Backoff(cfg.reconnect_first_s, cfg.reconnect_cap_s),
            on_error=lambda _exc: self._observe("listen", 0.0, False),
            listeners=self._listeners,
        )
        self._feed.start()
        try:
            await asyncio.wait_for(self._feed.ready.wait(), cfg.connect_timeout_s + cfg.socket_timeout_s)
        except asyncio.TimeoutError:
            await self.close()
            raise StoreUnavailable(f"redis at {_safe_url(cfg.url)}: live feed did not subscribe") from None

    async def close(self) -> None:
        if self._feed is not None:
            await self._feed.stop()
            self._feed = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ping(self) -> None:
        """Ready means Redis answers and this process's live feed is subscribed."""
        await self._timed("ping", self._redis().ping())
        if self._feed is None or not self._feed.ready.is_set():
            raise StoreUnavailable("redis live feed is reconnecting")

    # -- events ------------------------------------------------------------

    async def publish(
        self, execution_id: str, event: str, data: dict[str, Any], *, owner: str | None = None, lang: str | None = None,
        idempotency_key: str | None = None,
    ) -> Update:
        started = time.perf_counter()
        ok = False
        try:
            update = await self._publish(execution_id, event, data, owner, lang, idempotency_key)
            ok = True
            return update
        except (PublishRefused, AlreadyStored):
            ok = True  # the store answered; the event broke a rule, or was a retry
            raise
        finally:
            self._observe("publish", time.perf_counter() - started, ok)

    async def _publish(
        self, execution_id: str, event: str, data: dict[str, Any], owner: str | None, lang: str | None,
        idempotency_key: str | None,
    ) -> Update:
        # One append at a time per execution in this process: the compare-and-swap then only
        # races other processes, and this process's publishers go in call order (FIFO lock),
        # as with the memory store. Unserialised, 40 local tasks on one execution starve
        # some of them past max_append_attempts.
        async with self._appending.hold(execution_id):
            try:
                return await self._append_with_retries(execution_id, event, data, owner, lang, idempotency_key)
            except StoreUnavailable:
                self._recent.drop(execution_id)  # the append may or may not have landed
                raise

    async def _append_with_retries(
        self, execution_id: str, event: str, data: dict[str, Any], owner: str | None, lang: str | None,
        idempotency_key: str | None, *, stored: Snapshot | None | Unknown = UNKNOWN,
    ) -> Update:
        """`stored`: the snapshot Redis just answered (a batch's conflict), else remembered or read."""
        keys = [self._snap_key(execution_id), self._events_key(execution_id)]
        if not isinstance(stored, Unknown):
            current, confirmed = stored, True
        else:
            current = self._recent.get(execution_id)
            confirmed = False  # True once `current` came from Redis rather than from this process's cache
        if current is None and not confirmed:
            async with self._slot():
                current = await self._guard(self._read_snapshot(execution_id))
            confirmed = True
        for attempt in range(self.config.max_append_attempts):
            if attempt:
                # Lost to another process: back off a little, with jitter, so N processes
                # hammering one execution do not collide again in lockstep.
                await asyncio.sleep(random.uniform(0, min(0.05, 0.0005 * 2**attempt)))
            now = time.time()
            timestamp = utc_timestamp(now)
            try:
                snapshot, stored = advance(  # raises PublishRefused: nothing written
                    current, execution_id, event, data, timestamp=timestamp, now=now,
                    owner=owner, lang=lang, max_events=self.config.max_events_per_execution,
                    idempotency_key=idempotency_key,
                )
            except PublishRefused:
                if confirmed:
                    raise
                # Judged on a cached snapshot: refuse only what the stored one refuses.
                self._recent.drop(execution_id)
                async with self._slot():
                    current = await self._guard(self._read_snapshot(execution_id))
                confirmed = True
                continue
            update = Update.build(execution_id, snapshot.seq, timestamp, event, stored, now, snapshot.epoch)
            ttl_s = self.config.retention_s if snapshot.final else self.config.abandoned_after_s
            retention_ms = max(1, int(ttl_s * 1000))
            async with self._slot():
                written, payload = await self._guard(self._eval("append", keys=keys, args=[
                    version(current), snapshot.seq - 1, version(snapshot),
                    snapshot_json(snapshot), encode_envelope(update),
                    self._channel, retention_ms,
                ]))
            if written:
                if payload != snapshot.seq:  # impossible while seq n is log entry n; never hand out a wrong seq
                    raise StoreUnavailable(f"execution {execution_id}: log length {payload} after appending seq {snapshot.seq}")
                self._recent.put(snapshot)
                return update
            self.append_conflicts += 1
            current = Snapshot.from_dict(json.loads(payload)) if payload else None
            confirmed = True
        raise StoreUnavailable(f"execution {execution_id}: gave up after {self.config.max_append_attempts} write conflicts")

    async def publish_many(self, items: Sequence[PublishItem]) -> list[Outcome]:
        """One round trip for the batch's appends (redis_append_many.lua), plus one pipelined read
        of the snapshots this process does not remember; see redis_batch for the fallback."""
        started = time.perf_counter()
        outcomes: list[Outcome | None] = [None] * len(items)
        groups = group_by_execution(items)
        async with self._appending.hold_many(list(groups)):
            await self._judge_batch(groups, items, outcomes)
            await self._append_batch([g for g in groups.values() if g.appends and not g.fallback], outcomes)
            for group in groups.values():
                if group.fallback:
                    await self._settle_alone(group, items, outcomes)
        ok = not any(isinstance(outcome, StoreUnavailable) for outcome in outcomes)
        self._observe("publish_many", time.perf_counter() - started, ok)
        return outcomes  # type: ignore[return-value] - every position is settled above

    async def _judge_batch(self, groups: dict[str, Group], items: Sequence[PublishItem],
                           outcomes: list[Outcome | None]) -> None:
        unknown: list[Group] = []
        for group in groups.values():
            group.current = self._recent.get(group.execution_id)
            if group.current is None:
                unknown.append(group)
        if unknown:
            try:
                async with self._slot():
                    docs = await self._guard(self._pipelined(
                        lambda pipe: [pipe.hget(self._snap_key(g.execution_id), "doc") for g in unknown]))
            except StoreUnavailable as exc:
                for group in unknown:
                    for index in group.indices:
                        outcomes[index] = exc
                    del groups[group.execution_id]
                docs = []
            for group, doc in zip(unknown, docs):
                group.current = None if doc is None else Snapshot.from_dict(json.loads(doc))
                group.confirmed = True
        for group in groups.values():
            group.judge(items, outcomes, self.config.max_events_per_execution)

    async def _append_batch(self, groups: list[Group], outcomes: list[Outcome | None]) -> None:
        if not groups:
            return
        keys: list[str] = []
        args: list[Any] = [self._channel, len(groups)]
        for group in groups:
            assert group.last is not None
            ttl_s = self.config.retention_s if group.last.final else self.config.abandoned_after_s
            keys += [self._snap_key(group.execution_id), self._events_key(group.execution_id)]
            args += group.script_args(max(1, int(ttl_s * 1000)))
        try:
            async with self._slot():
                answers = await self._guard(self._eval("append_many", keys=keys, args=args))
        except StoreUnavailable as exc:  # the appends may or may not have landed
            for group in groups:
                self._recent.drop(group.execution_id)
                group.fail(outcomes, exc)
            return
        flags, docs = answers[0], iter(answers[1:])
        for group, written in zip(groups, flags, strict=True):
            if written == "0":
                self.append_conflicts += 1
                self._recent.drop(group.execution_id)
                doc = next(docs)
                group.send_to_fallback(Snapshot.from_dict(json.loads(doc)) if doc else None, confirmed=True)
                continue
            assert group.last is not None
            for index, update in group.appends:
                outcomes[index] = update
            self._recent.put(group.last)

    async def _settle_alone(self, group: Group, items: Sequence[PublishItem], outcomes: list[Outcome | None]) -> None:
        """A group the batch could not settle: each of its items on the per-item path, in order,
        the first judged from the snapshot Redis answered when there was one."""
        stored: Snapshot | None | Unknown = group.current if group.confirmed else UNKNOWN
        for index in group.indices:
            item = items[index]
            try:
                outcomes[index] = await self._append_with_retries(
                    group.execution_id, item.event, item.data, item.owner, item.lang, item.idempotency_key,
                    stored=stored)
            except (PublishRefused, AlreadyStored) as exc:
                outcomes[index] = exc
            except StoreUnavailable as exc:
                self._recent.drop(group.execution_id)
                outcomes[index] = exc
            stored = UNKNOWN  # the next item starts from what this one left (remembered, else read)

    async def events_after(self, execution_id: str, after: int) -> list[Update]:
        raw = await self._timed("events_after", self._redis().lrange(self._events_key(execution_id), max(after, 0), -1))
        return [decode_envelope(item) for item in raw]

    async def snapshot(self, execution_id: str) -> Snapshot | None:
        return await self._timed("snapshot", self._read_snapshot(execution_id))

    async def _read_snapshot(self, execution_id: str) -> Snapshot | None:
        raw = await self._redis().hget(self._snap_key(execution_id), "doc")
        return None if raw is None else Snapshot.from_dict(json.loads(raw))

    def listen(self) -> AsyncIterator[Update | Resync]:
        if self._feed is None:
            raise RuntimeError("RedisStore.listen() before start()")
        return self._feed.listeners.listen()

    # -- result cache ------------------------------------------------------

    async def cache_get(self, key: str) -> list[tuple[str, dict[str, Any]]] | None:
        if self._tinylfu:
            if self.config.cache_max_entries <= 0:
                return None  # as memory: nothing is stored, nothing is counted
            sizes = self._sizes
            call = self._eval("tinylfu_get", keys=[self._cache_prefix + key, *self._tinylfu_keys],
                              args=[key, sizes.protected, sizes.width, sizes.depth, sizes.sample_size])
        else:
            call = self._eval("cache_get", keys=[self._cache_prefix + key, self._cache_index, self._cache_clock], args=[key])
        raw = await self._timed("cache_get", call)
        return None if raw is None else [(event, data) for event, data in json.loads(raw)]

    async def cache_put(self, key: str, events: list[tuple[str, dict[str, Any]]], ttl_s: float) -> None:
        ttl_ms = int(ttl_s * 1000)
        if self.config.cache_max_entries <= 0 or ttl_ms <= 0:
            return  # memory stores it already expired: the same as not storing it
        value = json.dumps(events, ensure_ascii=False)
        if self._tinylfu:
            sizes = self._sizes
            call = self._eval("tinylfu_put", keys=[self._cache_prefix + key, *self._tinylfu_keys[:5]],
                              args=[value, ttl_ms, key, sizes.window, sizes.main, sizes.width, sizes.depth, self._cache_prefix])
        else:
            call = self._eval("cache_put", keys=[self._cache_prefix + key, self._cache_index, self._cache_clock],
                              args=[value, ttl_ms, key, self.config.cache_max_entries, self._cache_prefix])
        await self._timed("cache_put", call)

    # -- plumbing ----------------------------------------------------------

    def _redis(self) -> Redis:
        if self._client is None:
            raise StoreUnavailable("redis store is not started")
        return self._client

    async def _pipelined(self, commands: Callable[[Any], object]) -> list[Any]:
        """Queue `commands` on a pipeline (no MULTI) and send them in one round trip."""
        async with self._redis().pipeline(transaction=False) as pipe:
            commands(pipe)
            return await pipe.execute()

    def _eval(self, name: str, *, keys: list[str], args: list[Any]) -> Awaitable[Any]:
        return self._scripts[name].run(self._redis(), keys, args)

    async def _guard(self, awaitable: Awaitable[T]) -> T:
        """Await a Redis call; any backend failure becomes StoreUnavailable."""
        try:
            return await awaitable
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"redis at {_safe_url(self.config.url)}: {exc}") from exc

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """A turn to use a pooled connection, granted in arrival order.

        Not redis-py's BlockingConnectionPool: it lets a task that just released a
        connection take it again ahead of those waiting, which starved some callers
        for most of a second under a burst, and its condition-plus-timeout cost 8 %
        of the service's CPU under the push benchmark. A FIFO semaphore sized below
        the pool keeps the pool from ever running out (redis_append_bench.py, 200
        concurrent publishers: p99 710 ms with the blocking pool, 66-76 ms with this).
        """
        try:
            if self._slots.locked():  # only a wait needs a deadline (and its cost)
                async with asyncio.timeout(self.config.socket_timeout_s):
                    await self._slots.acquire()
            else:
                await self._slots.acquire()
        except TimeoutError:
            raise StoreUnavailable(
                f"all {self.config.max_connections - 1} redis connections stayed busy for {self.config.socket_timeout_s} s"
            ) from None
        try:
            yield
        finally:
            self._slots.release()

    async def _warn_on_eviction_policy(self, client: Redis) -> None:
        """Say at start when Redis may evict a live stream's keys (INFO, not CONFIG GET: managed
        Redis services often rename CONFIG). A Redis that does not say is not second-guessed."""
        try:
            info = await asyncio.wait_for(client.info("memory"), self.config.socket_timeout_s)
        except (RedisError, OSError, asyncio.TimeoutError):
            return
        warning = eviction_policy_warning(str(info.get("maxmemory_policy", "")))
        if warning is not None:
            log.warning("%s", warning)

    async def _timed(self, op: str, awaitable: Awaitable[T]) -> T:
        started = time.perf_counter()
        ok = False
        try:
            async with self._slot():
                result = await self._guard(awaitable)
            ok = True
            return result
        finally:
            self._observe(op, time.perf_counter() - started, ok)


def _safe_url(url: str) -> str:
    """The URL without its password, for messages that may reach logs."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


_: type[Store] = RedisStore  # static checks that RedisStore satisfies the interface
_ping: type[Pingable] = RedisStore  # and has a backend /readyz asks
