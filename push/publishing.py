"""The publishing path: the one way an event enters the service, and the result cache.

Built before the engine (which publishes through it) and shared with the HTTP
handlers, so an event stored by the engine, by a cache replay or by the publish
API is counted by the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from diagops.push.lifecycle import AlreadyStored, MalformedEvent, PublishRefused
from diagops.push.protocol import EXECUTION_ID_RULE, valid_execution_id
from diagops.push.store.base import StoreUnavailable

if TYPE_CHECKING:
    from diagops.push.metrics import Metrics
    from diagops.push.store.base import Store, Update

CachedEvents = list[tuple[str, dict[str, Any]]]

# The entrances an event comes in by: the `path` label of diagops_events_published_total.
PATHS: Final = ("http", "batch", "ws", "engine")
MAX_IDEMPOTENCY_KEY: Final = 200
ITEM_FIELDS: Final = frozenset({"execution_id", "event", "data", "owner", "lang", "idempotency_key"})
Result = dict[str, Any]  # one entry of a batch's `results`, or the body of a socket's `published`


class InvalidField(MalformedEvent):
    code = "invalid_field"


@dataclass(frozen=True, slots=True)
class PublishItem:
    """One event as a publisher sent it, its envelope checked; `advance` judges the rest."""

    execution_id: str
    event: Any
    data: Any
    owner: str | None = None
    lang: str | None = None
    idempotency_key: str | None = None


def parse_item(body: dict[str, Any], *, allowed: frozenset[str] = ITEM_FIELDS, execution_id: Any = None,
               idempotency_key: Any = None) -> PublishItem:
    """The publish envelope every entrance shares (HTTP, batch item, socket frame), so an event
    refused on one is refused alike on the others. `execution_id` / `idempotency_key` come from
    the path and header for the single-event API, else from the body. Raises MalformedEvent."""
    unknown = set(body) - allowed
    if unknown:
        raise MalformedEvent(f"unknown field '{sorted(unknown)[0]}'")
    if execution_id is None:
        execution_id = body.get("execution_id")
        if execution_id is None:
            raise MalformedEvent("'execution_id' is required")
    if not valid_execution_id(execution_id):
        raise InvalidField(f"the execution id must be {EXECUTION_ID_RULE}")
    key = body.get("idempotency_key") if idempotency_key is None else idempotency_key
    if key is not None and not (isinstance(key, str) and 0 < len(key) <= MAX_IDEMPOTENCY_KEY):
        raise MalformedEvent(f"the idempotency key must be a string of 1 to {MAX_IDEMPOTENCY_KEY} characters")
    data = body.get("data", {})
    owner, lang = body.get("owner"), body.get("lang")
    if isinstance(data, dict) and ("owner" in data or "lang" in data):  # owner / lang may also ride inside data
        data = dict(data)
        owner = owner or data.pop("owner", None)
        lang = lang or data.pop("lang", None)
    if owner is not None and (not isinstance(owner, str) or not owner):
        raise MalformedEvent("'owner' must be a non-empty string")
    return PublishItem(execution_id, body.get("event"), data, owner, lang, key)


def refusal(status: int, code: str, message: str) -> Result:
    return {"status": status, "error": {"code": code, "message": message}}


class Publisher:
    def __init__(self, store: Store, metrics: Metrics, *, cache_ttl_s: float) -> None:
        self.store = store
        self.metrics = metrics
        self.cache_ttl_s = cache_ttl_s  # 0 turns the result cache off, both ways
        self._published = {path: metrics.events_published.labels(path) for path in PATHS}

    async def publish(
        self, execution_id: str, event: str, data: dict[str, Any], *, owner: str | None = None, lang: str | None = None,
        count_outcome: bool = True, idempotency_key: str | None = None, path: str = "engine",
    ) -> Update:
        """Store the event, then count it by entrance and count final outcomes. Cache replays
        pass `count_outcome=False`: they are counted as cache hits, and counting them as
        diagnoses too would dilute the error-rate and duration objectives with instant successes."""
        update = await self.store.publish(execution_id, event, data, owner=owner, lang=lang,
                                          idempotency_key=idempotency_key)
        self._published[path].inc()
        if update.final and count_outcome:
            await self._count_final(update, data)
        return update

    async def publish_item(self, item: PublishItem, *, path: str) -> Result:
        """One event judged and stored as the single-event API would, its answer as data:
        `{"seq"}`, `{"seq", "duplicate": true}` or `{"status", "error"}`. Never raises for what
        the publisher sent or for a store that does not answer, so one item cannot spoil a batch."""
        try:
            update = await self.publish(item.execution_id, item.event, item.data, owner=item.owner, lang=item.lang,
                                        idempotency_key=item.idempotency_key, path=path)
        except AlreadyStored as retry:
            return {"seq": retry.seq, "duplicate": True}
        except PublishRefused as exc:
            return refusal(exc.status, exc.code, exc.message)
        except StoreUnavailable:
            return refusal(503, "store_unavailable", "the service's store is not answering; try again shortly")
        return {"seq": update.seq}

    async def publish_batch(self, bodies: Iterable[dict[str, Any]]) -> list[Result]:
        """Each item in the order given, as if posted alone: the events of one execution keep
        their order and a refused item leaves the others as they would have been."""
        results: list[Result] = []
        for body in bodies:
            try:
                item = parse_item(body)
            except MalformedEvent as exc:
                results.append(refusal(exc.status, exc.code, exc.message))
                continue
            results.append(await self.publish_item(item, path="batch"))
        return results

    async def cached_result(self, key: str) -> CachedEvents | None:
        """The events of an equal diagnosis that completed within the TTL; counts the hit or miss."""
        cached = await self.store.cache_get(key) if self.cache_ttl_s > 0 else None
        self.metrics.cache_requests.labels("hit" if cached else "miss").inc()
        return cached or None

    async def replay(self, execution_id: str, events: CachedEvents, *, owner: str, lang: str) -> None:
        """A cached diagnosis as a new execution owned by `owner`: fresh seq and timestamps."""
        first_owner: str | None = owner
        for event, data in events:
            await self.publish(execution_id, event, data, owner=first_owner, lang=lang, count_outcome=False)
            first_owner = None  # the first event creates the execution; the rest only follow it

    async def cache_result(self, key: str, events: CachedEvents) -> None:
        """Offer a completed diagnosis to the result cache (the engine calls this)."""
        if self.cache_ttl_s > 0:
            await self.store.cache_put(key, events, self.cache_ttl_s)

    async def _count_final(self, update: Update, data: dict[str, Any]) -> None:
        status = "complete" if update.event == "complete" else "error"
        self.metrics.diagnoses.labels(status).inc()
        if status == "error":
            self.metrics.errors.labels(str(data.get("error_type", "INTERNAL"))).inc()
        try:
            snapshot = await self.store.snapshot(update.execution_id)
        except StoreUnavailable:
            return  # the event is stored: a lost duration sample must not fail its publisher
        if snapshot is not None and snapshot.created_at:
            self.metrics.diagnosis_duration.observe(max(update.accepted_at - snapshot.created_at, 0.0))
