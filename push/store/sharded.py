"""Several Redis servers as one store: each execution lives on one shard, chosen by its id.

An execution's events, snapshot and seq counter already live in one key space
(`{prefix}{<execution>}:...`, redis.py) and are never read together with another
execution's, so executions spread over independent servers with nothing shared:
each shard is a whole RedisStore (its own pool, append scripts and live feed on
its own channel), and this wrapper only sends each call to the execution's shard.
`listen()` yields every shard's updates (the shards' feeds share one set of
listeners); a RESYNC after one shard's reconnection makes the hub re-read every
subscribed execution, which costs reads but loses nothing. The result cache
entry for a key is placed the same way, by the key.

Placement is rendezvous (highest random weight) hashing: every shard scores the
id (blake2b of shard name and id) and the highest score wins. Why rendezvous and
not a ring with virtual nodes: with a handful of shards, scoring each is a few
hundred nanoseconds and needs no tuning, the spread is even without virtual
nodes, and adding or removing a shard moves only the executions that the new
shard wins or the removed one held (about 1/n of them), as a ring does. A
shard's name is its URL without the password, so every process given the same
URLs, in any order, places every execution on the same shard, and rotating a
password moves nothing. (Centrifugo shards its Redis engine by a consistent hash
of the channel in the same spirit.)

What changing the shard list means for executions in flight: an execution whose
shard changed is looked up on its new shard, where it does not exist. Its next
event is refused with `owner_required` (or, carrying an owner, starts it again at
seq 1 under a new epoch: a reset to its subscribers), a poll answers 404, and its
old keys expire on the old shard by their TTL. So change the list between batches of diagnoses (drain first), or
accept that diagnoses running across the change fail and are retried.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from diagops.push.lifecycle import Snapshot
from diagops.push.store.base import (
    OnOperation, Outcome, Pingable, PublishItem, Resync, Store, Update,
)
from diagops.push.store.broadcast import Broadcast
from diagops.push.store.redis import RedisStore

if TYPE_CHECKING:
    from diagops.spec import Spec


def shard_name(url: str) -> str:
    """What placement hashes for a shard: its URL without credentials."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"


def rendezvous(key: str, names: Sequence[str]) -> int:
    """The index in `names` of the shard that wins `key`: the same in every process, whatever
    the order of `names` (ties, practically impossible with 64-bit scores, go to the lower name)."""
    encoded = key.encode()
    best, best_score = 0, (-1, "")
    for index, name in enumerate(names):
        score = int.from_bytes(hashlib.blake2b(name.encode() + b"\0" + encoded, digest_size=8).digest(), "big")
        if (score, name) > best_score:
            best, best_score = index, (score, name)
    return best


class ShardedStore:
    """The store interface over several RedisStores; see the module docstring for why."""

    def __init__(self, shards: Sequence[RedisStore], listeners: Broadcast[Update | Resync]) -> None:
        """`listeners` must be the Broadcast each shard was built with (`from_spec` does this)."""
        if len(shards) < 2:
            raise ValueError("a sharded store needs at least two shards")
        self.shards = list(shards)
        self.names = [shard_name(shard.config.url) for shard in self.shards]
        if len(set(self.names)) != len(self.names):
            raise ValueError("two shards have the same URL")
        self._listeners = listeners
        self._started = False

    @classmethod
    def from_spec(cls, spec: Spec, *, on_operation: OnOperation | None = None) -> ShardedStore:
        listeners: Broadcast[Update | Resync] = Broadcast()
        shards = [RedisStore.from_spec(spec, on_operation=on_operation, url=url, listeners=listeners)
                  for url in spec.service.redis_urls]
        return cls(shards, listeners)

    def shard_for(self, execution_id: str) -> RedisStore:
        return self.shards[rendezvous(execution_id, self.names)]

    # -- life cycle --------------------------------------------------------

    async def start(self) -> None:
        """Every shard, or none: a process that cannot reach one shard cannot serve its executions."""
        results = await asyncio.gather(*(shard.start() for shard in self.shards), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            await self.close()  # release the shards that did start
            raise failed[0]
        self._started = True

    async def close(self) -> None:
        await asyncio.gather(*(shard.close() for shard in self.shards))
        self._started = False

    async def ping(self) -> None:
        """Ready when every shard answers and its live feed is subscribed."""
        await asyncio.gather(*(shard.ping() for shard in self.shards))

    # -- events ------------------------------------------------------------

    async def publish(
        self, execution_id: str, event: str, data: dict[str, Any], *, owner: str | None = None, lang: str | None = None,
        idempotency_key: str | None = None,
    ) -> Update:
        return await self.shard_for(execution_id).publish(
            execution_id, event, data, owner=owner, lang=lang, idempotency_key=idempotency_key)

    async def publish_many(self, items: Sequence[PublishItem]) -> list[Outcome]:
        """Each shard's items in one batch of its own, the shards written concurrently."""
        by_shard: dict[int, list[int]] = {}
        for index, item in enumerate(items):
            by_shard.setdefault(rendezvous(item.execution_id, self.names), []).append(index)
        answers = await asyncio.gather(*(
            self.shards[shard].publish_many([items[i] for i in indices]) for shard, indices in by_shard.items()
        ))
        outcomes: list[Outcome | None] = [None] * len(items)
        for indices, shard_outcomes in zip(by_shard.values(), answers, strict=True):
            for index, outcome in zip(indices, shard_outcomes, strict=True):
                outcomes[index] = outcome
        return outcomes  # type: ignore[return-value] - every position answered by its shard

    async def events_after(self, execution_id: str, after: int) -> list[Update]:
        return await self.shard_for(execution_id).events_after(execution_id, after)

    async def snapshot(self, execution_id: str) -> Snapshot | None:
        return await self.shard_for(execution_id).snapshot(execution_id)

    def listen(self) -> AsyncIterator[Update | Resync]:
        if not self._started:
            raise RuntimeError("ShardedStore.listen() before start()")
        return self._listeners.listen()

    # -- result cache ------------------------------------------------------

    async def cache_get(self, key: str) -> list[tuple[str, dict[str, Any]]] | None:
        return await self.shards[rendezvous(key, self.names)].cache_get(key)

    async def cache_put(self, key: str, events: list[tuple[str, dict[str, Any]]], ttl_s: float) -> None:
        await self.shards[rendezvous(key, self.names)].cache_put(key, events, ttl_s)


_: type[Store] = ShardedStore  # static checks that ShardedStore satisfies the interface
_ping: type[Pingable] = ShardedStore  # and has backends /readyz asks
