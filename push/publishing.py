"""The publishing path: the one way an event enters the service, and the result cache.

Built before the engine (which publishes through it) and shared with the HTTP
handlers, so an event stored by the engine, by a cache replay or by the publish
API is counted by the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from diagops.push.lifecycle import AlreadyStored, MalformedEvent, PublishRefused
from diagops.push.protocol import EXECUTION_ID_RULE, LANGS, valid_execution_id
from diagops.push.store.base import PublishItem, StoreUnavailable

if TYPE_CHECKING:
    from diagops.push.metrics import Metrics
    from diagops.push.store.base import Outcome, Store, Update

CachedEvents = list[tuple[str, dict[str, Any]]]

# The entrances an event comes in by: the `path` label of diagops_events_published_total.
PATHS: Final = ("http", "batch", "ws", "engine")
MAX_IDEMPOTENCY_KEY: Final = 200
_ABSENT: Final = object()  # a field left out, told apart from one sent as null
ITEM_FIELDS: Final = frozenset({"execution_id", "event", "data", "owner", "lang", "idempotency_key"})
Result = dict[str, Any]  # one entry of a batch's `results`, or the body of a socket's `published`


class InvalidField(MalformedEvent):
    code = "invalid_field"


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
    owner, lang = body.get("owner", _ABSENT), body.get("lang", _ABSENT)
    if isinstance(data, dict) and ("owner" in data or "lang" in data):  # owner / lang may also ride inside data
        data = dict(data)
        owner = data.pop("owner", _ABSENT) if owner is _ABSENT else owner
        lang = data.pop("lang", _ABSENT) if lang is _ABSENT else lang
    # Present means judged, on every event (not only the first, which uses them): null, "" or {}
    # is refused, never taken for absent.
    if owner is not _ABSENT and (not isinstance(owner, str) or not owner):
        raise MalformedEvent("'owner' must be a non-empty string")
    if lang is not _ABSENT and lang not in LANGS:
        raise MalformedEvent(f"'lang' must be one of {', '.join(LANGS)}")
    return PublishItem(execution_id, body.get("event"), data, None if owner is _ABSENT else owner,
                       None if lang is _ABSENT else lang, key)


def refusal(status: int, code: str, message: str) -> Result:
    return {"status": status, "error": {"code": code, "message": message}}


def answer(outcome: Outcome) -> Result:
    """A publish's outcome as the publish API answers it: `{"seq"}`, `{"seq", "duplicate": true}`
    or `{"status", "error"}`."""
    if isinstance(outcome, AlreadyStored):
        return {"seq": outcome.seq, "duplicate": True}
    if isinstance(outcome, PublishRefused):
        return refusal(outcome.status, outcome.code, outcome.message)
    if isinstance(outcome, StoreUnavailable):
        return refusal(503, "store_unavailable", "the service's store is not answering; try again shortly")
    return {"seq": outcome.seq}


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
        except (AlreadyStored, PublishRefused, StoreUnavailable) as exc:
            return answer(exc)
        return answer(update)

    async def publish_batch(self, bodies: Iterable[dict[str, Any]]) -> list[Result]:
        """Each item in the order given, as if posted alone: the events of one execution keep
        their order and a refused item leaves the others as they would have been. The items
        whose envelope is sound go to the store in one `publish_many` (one Redis round trip)."""
        results: list[Result] = []
        items: list[PublishItem] = []
        places: list[int] = []  # where each item's answer goes in `results`
        for body in bodies:
            try:
                items.append(parse_item(body))
                places.append(len(results))
                results.append({})  # filled from the store's outcome below
            except MalformedEvent as exc:
                results.append(refusal(exc.status, exc.code, exc.message))
        for place, result in zip(places, await self.publish_items(items, path="batch"), strict=True):
            results[place] = result
        return results

    async def publish_items(self, items: list[PublishItem], *, path: str) -> list[Result]:
        """Checked items stored with one `publish_many`, answered as `publish_item` answers each."""
        if not items:
            return []
        outcomes = await self.store.publish_many(items)
        published = self._published[path]
        results: list[Result] = []
        for item, outcome in zip(items, outcomes, strict=True):
            results.append(answer(outcome))
            if isinstance(outcome, Exception):
                continue
            published.inc()
            if outcome.final:
                await self._count_final(outcome, item.data)
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


# --------------------------------------------------------------------------- the engine's side
# What an external engine (or any backend) publishes with: the batch API above, seen from the
# client. aiohttp is imported when a RemotePublisher starts, so importing this module stays cheap.

RETRY_PAUSES_S: Final = (0.05, 0.2, 0.5, 1.0, 2.0)


class PublishFailed(Exception):
    """An event the service refused (`status` 4xx and its `code`), or could not be given
    (`status` None: unreachable, or unavailable, after every retry)."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "unavailable",
                 item: PublishItem | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.item = item


class RemotePublisher:
    """Publishes to a running service in batches: `await publish(...)` returns the event's seq.

    Events wait at most `linger_s` (or until `max_batch` are waiting) and leave together in one
    POST /api/v1/events, one batch at a time, so the events of an execution keep their order.
    Each event gets an idempotency key when queued: a batch whose answer was lost (connection
    dropped, 503) is sent again as it was and the service stores each event once. At most
    `max_queue` events wait; `publish` then waits for room (backpressure) instead of holding
    unbounded memory. What could not be delivered after every retry raises PublishFailed from
    its `publish` and is kept in `undelivered`.
    """

    def __init__(self, base_url: str, token: str, *, linger_s: float = 0.005, max_batch: int = 500,
                 max_queue: int = 10_000, retry_pauses_s: Iterable[float] = RETRY_PAUSES_S,
                 timeout_s: float = 10.0) -> None:
        import asyncio

        self.url = base_url.rstrip("/") + "/api/v1/events"
        self.token = token
        self.linger_s = linger_s
        self.max_batch = max_batch
        self.retry_pauses_s = tuple(retry_pauses_s)
        self.timeout_s = timeout_s
        self.requests = 0  # batches sent, retries included
        self.undelivered: list[PublishFailed] = []
        self._room = asyncio.Semaphore(max_queue)
        self._queue: asyncio.Queue[tuple[PublishItem, asyncio.Future[int]]] = asyncio.Queue()
        self._session: Any = None
        self._flusher: asyncio.Task[None] | None = None
        self._sending = False
        self._held = 0

    async def __aenter__(self) -> RemotePublisher:
        import asyncio

        import aiohttp

        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def held(self) -> int:
        """Events accepted and not yet answered (queued, or in the batch being sent): at most max_queue."""
        return self._held

    async def publish(self, execution_id: str, event: str, data: dict[str, Any], *, owner: str | None = None,
                      lang: str | None = None) -> int:
        """The seq the service gave the event; PublishFailed when refused or undeliverable."""
        import asyncio
        import uuid

        if self._flusher is None:
            raise RuntimeError("use `async with RemotePublisher(...)` before publishing")
        item = PublishItem(execution_id, event, data, owner, lang, uuid.uuid4().hex)
        await self._room.acquire()
        self._held += 1
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, done))
        return await done

    async def close(self) -> None:
        """Deliver what is queued, then stop."""
        import asyncio

        if self._flusher is not None:
            while (self._queue.qsize() or self._sending) and not self._flusher.done():
                await asyncio.sleep(self.linger_s)
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _flush_forever(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.linger_s
            while len(batch) < self.max_batch:
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), max(deadline - loop.time(), 0)))
                except asyncio.TimeoutError:
                    break
            self._sending = True
            try:
                await self._send(batch)
            finally:
                self._sending = False
                for _ in batch:
                    self._held -= 1
                    self._room.release()

    async def _send(self, batch: list[tuple[PublishItem, Any]]) -> None:
        import asyncio

        import aiohttp

        body = {"events": [_item_body(item) for item, _ in batch]}
        headers = {"Authorization": f"Bearer {self.token}"}
        waiting = list(batch)
        problem = "no answer"
        for pause in (*self.retry_pauses_s, None):
            self.requests += 1
            try:
                async with self._session.post(self.url, json=body, headers=headers) as resp:
                    answer = await resp.json(content_type=None)
                    if resp.status == 200:
                        waiting = self._settle(waiting, answer["results"])
                        if not waiting:
                            return
                        problem = "the store was unavailable"
                    elif resp.status in (502, 503, 504):
                        problem = f"HTTP {resp.status}"
                    else:  # the whole batch refused: a bug or a bad token, not worth retrying
                        error = (answer or {}).get("error", {}) if isinstance(answer, dict) else {}
                        self._fail(waiting, error.get("message", f"HTTP {resp.status}"), resp.status,
                                   error.get("code", "http_error"))
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if pause is None:
                break
            await asyncio.sleep(pause)
            # Only what is still unanswered goes again, in its order; stored ones answer duplicate.
            body = {"events": [_item_body(item) for item, _ in waiting]}
        self._fail(waiting, f"not delivered after {len(self.retry_pauses_s) + 1} tries: {problem}", None, "unavailable")

    def _settle(self, batch: list[tuple[PublishItem, Any]], results: list[Result]) -> list[tuple[PublishItem, Any]]:
        """Resolve each answered item; what the store could not take (503) is kept for a retry."""
        again = []
        for (item, done), result in zip(batch, results):
            if "seq" in result:
                if not done.done():
                    done.set_result(result["seq"])
            elif result.get("status") == 503:
                again.append((item, done))
            elif not done.done():
                error = result.get("error", {})
                done.set_exception(PublishFailed(error.get("message", "refused"), status=result.get("status"),
                                                 code=error.get("code", "refused"), item=item))
        return again

    def _fail(self, batch: list[tuple[PublishItem, Any]], message: str, status: int | None, code: str) -> None:
        for item, done in batch:
            failure = PublishFailed(message, status=status, code=code, item=item)
            if status is None:
                self.undelivered.append(failure)
            if not done.done():
                done.set_exception(failure)


def _item_body(item: PublishItem) -> dict[str, Any]:
    body: dict[str, Any] = {"execution_id": item.execution_id, "event": item.event, "data": item.data,
                            "idempotency_key": item.idempotency_key}
    if item.owner is not None:
        body["owner"] = item.owner
    if item.lang is not None:
        body["lang"] = item.lang
    return body


class SyncPublisher:
    """RemotePublisher for an engine that is not async: its loop runs on a thread of its own.
    `publish` blocks until the seq is known; `submit` returns a concurrent Future at once, so
    one thread can keep many events in flight (and batched)."""

    def __init__(self, base_url: str, token: str, **options: Any) -> None:
        import asyncio
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="diagops-publisher", daemon=True)
        self._thread.start()
        self._remote = self._call(self._open(base_url, token, options))

    async def _open(self, base_url: str, token: str, options: dict[str, Any]) -> RemotePublisher:
        return await RemotePublisher(base_url, token, **options).__aenter__()

    def _call(self, coroutine: Any) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    @property
    def undelivered(self) -> list[PublishFailed]:
        return self._remote.undelivered

    def submit(self, execution_id: str, event: str, data: dict[str, Any], **kw: Any) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(self._remote.publish(execution_id, event, data, **kw), self._loop)

    def publish(self, execution_id: str, event: str, data: dict[str, Any], **kw: Any) -> int:
        return self.submit(execution_id, event, data, **kw).result()  # type: ignore[no-any-return]

    def close(self) -> None:
        self._call(self._remote.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> SyncPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
