"""The engine-side publisher library against a real service: batching, retries, backpressure."""

from __future__ import annotations

import asyncio
import threading

import aiohttp
import pytest
from aiohttp import web

from diagops.push.publishing import PublishFailed, RemotePublisher, SyncPublisher
from tests.push.publish_checks import new_id, published_total, stored_seqs
from tests.waiting import eventually

PROGRESS = {"stage": "ai_fetching"}


async def test_events_published_together_leave_in_one_batch_in_order(service):
    e = new_id()
    before = await published_total(service, "batch")
    async with RemotePublisher(service.url, service.token("engine", ("publish",)), linger_s=0.05) as publisher:
        first = await publisher.publish(e, "progress", {"progress": 0, **PROGRESS}, owner="alice")
        seqs = await asyncio.gather(*(publisher.publish(e, "progress", {"progress": i, **PROGRESS})
                                      for i in range(1, 41)))
        assert publisher.requests == 2  # the first alone, then 40 in one request
    assert [first, *seqs] == list(range(1, 42))
    assert await published_total(service, "batch") - before == 41
    assert await stored_seqs(service, e) == [(i + 1, i) for i in range(41)]


async def test_a_refused_event_raises_and_the_others_are_stored(service):
    e = new_id()
    async with RemotePublisher(service.url, service.token("engine", ("publish",)), linger_s=0.05) as publisher:
        results = await asyncio.gather(
            publisher.publish(e, "progress", {"progress": 50, **PROGRESS}, owner="alice"),
            publisher.publish(e, "progress", {"progress": 10, **PROGRESS}),
            publisher.publish(e, "progress", {"progress": 60, **PROGRESS}),
            return_exceptions=True)
    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], PublishFailed) and (results[1].status, results[1].code) == (422, "regression")
    assert publisher.undelivered == []


async def test_a_batch_whose_answer_was_lost_is_sent_again_and_stored_once(service):
    """A front that forwards the first batch to the service and then drops the connection
    without answering: the publisher retries with the same keys, the service stores each once."""
    session = aiohttp.ClientSession()
    dropped = 0

    async def front(request: web.Request) -> web.StreamResponse:
        nonlocal dropped
        body = await request.read()
        async with session.post(f"{service.url}{request.path}", data=body, headers=request.headers) as resp:
            answer = await resp.read()
        if dropped == 0:
            dropped += 1
            assert request.transport is not None
            request.transport.abort()  # stored upstream, the answer never arrives
        return web.Response(body=answer, status=resp.status, content_type="application/json")

    app = web.Application()
    app.router.add_post("/api/v1/events", front)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    e = new_id()
    try:
        async with RemotePublisher(f"http://127.0.0.1:{port}", service.token("engine", ("publish",)),
                                   linger_s=0.02, retry_pauses_s=(0.05,)) as publisher:
            seqs = await asyncio.gather(publisher.publish(e, "progress", {"progress": 1, **PROGRESS}, owner="alice"),
                                        publisher.publish(e, "progress", {"progress": 2, **PROGRESS}))
            assert publisher.requests == 2
    finally:
        await runner.cleanup()
        await session.close()
    assert dropped == 1 and seqs == [1, 2]
    assert await stored_seqs(service, e) == [(1, 1), (2, 2)]


async def test_an_unreachable_service_is_reported_not_lost_silently(unused_tcp_port):
    async with RemotePublisher(f"http://127.0.0.1:{unused_tcp_port}", "t", retry_pauses_s=(0.01, 0.01)) as publisher:
        with pytest.raises(PublishFailed) as failed:
            await publisher.publish("e-1", "progress", {"progress": 1}, owner="alice")
        assert publisher.requests == 3
    assert failed.value.status is None and failed.value.code == "unavailable"
    assert [f.item.execution_id for f in publisher.undelivered] == ["e-1"]


async def test_a_full_queue_makes_publish_wait(service):
    e = new_id()
    async with RemotePublisher(service.url, service.token("engine", ("publish",)), linger_s=1.0,
                               max_batch=100, max_queue=3) as publisher:
        tasks = [asyncio.ensure_future(publisher.publish(e, "progress", {"progress": i, **PROGRESS}, owner="alice"))
                 for i in range(5)]
        await eventually(lambda: publisher.held == 3, what="three events held")  # the flusher lingers 1 s
        assert publisher.held == 3  # the other two wait for room, holding nothing
        assert sum(t.done() for t in tasks) == 0
        assert sorted(await asyncio.gather(*tasks)) == [1, 2, 3, 4, 5]


def test_the_sync_wrapper_publishes_from_plain_threads(service_url_and_token):
    url, token = service_url_and_token
    e = new_id()
    with SyncPublisher(url, token, linger_s=0.01) as publisher:
        assert publisher.publish(e, "progress", {"progress": 0, **PROGRESS}, owner="alice") == 1
        futures = [publisher.submit(e, "progress", {"progress": i, **PROGRESS}) for i in range(1, 11)]
        assert [f.result(timeout=10) for f in futures] == list(range(2, 12))


@pytest.fixture
def service_url_and_token(tmp_path):
    """A `diagops serve` process: the sync wrapper runs where no event loop is running."""
    from tests.servicekit import serve_process, token

    with serve_process(tmp_path) as svc:
        yield svc.url, token("engine", ("publish",))


def test_importing_the_library_starts_no_thread():
    assert not any(t.name == "diagops-publisher" for t in threading.enumerate())
