"""Batch and socket publishing checked against a running service; the memory tests and the
Redis tier run the same checks, so both stores answer alike."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp

from tests.push.wsutil import recv_json, recv_until, updates, watch_to_end

BATCH = "/api/v1/events"


def new_id() -> str:
    return f"e-{uuid.uuid4().hex[:12]}"


def progress(execution_id: str, value: int, **extra: Any) -> dict[str, Any]:
    return {"execution_id": execution_id, "event": "progress",
            "data": {"progress": value, "stage": "ai_fetching"}, **extra}


def complete(execution_id: str) -> dict[str, Any]:
    return {"execution_id": execution_id, "event": "complete", "data": {"progress": 100, "report": {"score": 1}}}


async def post_batch(svc: Any, body: Any, *, scopes: tuple[str, ...] = ("publish",), raw: bytes | None = None
                     ) -> tuple[int, Any]:
    data = raw if raw is not None else json.dumps(body).encode()
    async with svc.session.post(f"{svc.url}{BATCH}", data=data, headers=svc.auth("engine", scopes)) as resp:
        return resp.status, await resp.json()


async def stored_seqs(svc: Any, execution_id: str, user: str = "alice") -> list[tuple[int, int]]:
    """(seq, progress) of every stored event, read back through the owner's events API."""
    url = f"{svc.url}/api/v1/executions/{execution_id}/events?after=0"
    async with svc.session.get(url, headers=svc.auth(user)) as resp:
        if resp.status == 404:
            return []
        assert resp.status == 200, await resp.text()
        return [(e["seq"], e["data"].get("progress", -1)) for e in await resp.json()]


async def published_total(svc: Any, path: str) -> float:
    async with svc.session.get(f"{svc.url}/metrics") as resp:
        text = await resp.text()
    line = f'diagops_events_published_total{{path="{path}"}} '
    return float(next(row for row in text.splitlines() if row.startswith(line)).split()[-1])


async def check_batch_results_follow_items(svc: Any) -> None:
    """Many executions interleaved in one request: one result per item, in order; each
    execution's events stored in the order listed; a refused item among accepted ones."""
    a, b = new_id(), new_id()
    events = [progress(a, 10, owner="alice"), progress(b, 5, owner="alice"), progress(a, 20),
              progress(a, 15),  # lower than a's last: 422, uses no seq
              progress(b, 50), complete(a), progress(a, 99)]  # after a final: 409
    status, body = await post_batch(svc, {"events": events})
    assert status == 200, body
    results = body["results"]
    assert results[:3] == [{"seq": 1}, {"seq": 1}, {"seq": 2}]
    assert results[3]["status"] == 422 and results[3]["error"]["code"] == "regression"
    assert results[4:6] == [{"seq": 2}, {"seq": 3}]
    assert results[6]["status"] == 409 and results[6]["error"]["code"] == "already_final"
    assert await stored_seqs(svc, a) == [(1, 10), (2, 20), (3, 100)]
    assert await stored_seqs(svc, b) == [(1, 5), (2, 50)]


async def check_batch_item_rules_match_single(svc: Any) -> None:
    """Each item judged as the single-event API judges it: no owner on a new execution (422),
    a malformed item (400), a bad id (400 invalid_field); the others are stored."""
    fresh, ok = new_id(), new_id()
    events = [progress(fresh, 1),  # no owner
              {"execution_id": ok, "event": "nope", "data": {}, "owner": "alice"},
              {"execution_id": "bad id", "event": "progress", "data": {"progress": 1}, "owner": "alice"},
              {**progress(ok, 3, owner="alice"), "colour": "red"},
              {"event": "progress", "data": {"progress": 1}},
              progress(ok, 4, owner="alice")]
    status, body = await post_batch(svc, {"events": events})
    assert status == 200, body
    codes = [(r.get("status"), r.get("error", {}).get("code")) for r in body["results"]]
    assert codes == [(422, "owner_required"), (400, "bad_request"), (400, "invalid_field"),
                     (400, "bad_request"), (400, "bad_request"), (None, None)]
    assert body["results"][5] == {"seq": 1}
    assert await stored_seqs(svc, fresh) == []
    assert await stored_seqs(svc, ok) == [(1, 4)]


async def check_batch_duplicates_by_key(svc: Any) -> None:
    """A retried item (same idempotency key) is answered with its first seq and stored once,
    in the same batch or a later one."""
    e = new_id()
    first = progress(e, 10, owner="alice", idempotency_key="k-1")
    status, body = await post_batch(svc, {"events": [first, first, progress(e, 20, idempotency_key="k-2")]})
    assert status == 200
    assert body["results"] == [{"seq": 1}, {"seq": 1, "duplicate": True}, {"seq": 2}]
    status, body = await post_batch(svc, {"events": [progress(e, 20, idempotency_key="k-2")]})
    assert body["results"] == [{"seq": 2, "duplicate": True}]
    assert await stored_seqs(svc, e) == [(1, 10), (2, 20)]


async def check_batch_envelope_refused_whole(svc: Any) -> None:
    """A malformed envelope is one 400 (or 413 for the body size) and stores nothing, even
    the valid items it holds; a token without `publish` is 403; none is 401."""
    e = new_id()
    good = progress(e, 10, owner="alice")
    limit = svc.state.spec.limits.max_batch_events
    for body in ([good], {"events": good}, {"events": [good, "x"]}, {"events": [good] * (limit + 1)},
                 {"events": [good], "extra": 1}, {}):
        status, answer = await post_batch(svc, body)
        assert status == 400, (body if len(str(body)) < 200 else "too many", answer)
        assert set(answer) == {"error"}
    status, answer = await post_batch(svc, None, raw=b'{"events": [')
    assert (status, answer["error"]["code"]) == (400, "bad_json")
    padding = "x" * svc.state.spec.limits.max_batch_bytes
    status, answer = await post_batch(svc, {"events": [{**good, "data": {"progress": 1, "pad": padding}}]})
    assert (status, answer["error"]["code"]) == (413, "too_large")
    status, answer = await post_batch(svc, {"events": [good]}, scopes=("subscribe",))
    assert (status, answer["error"]["code"]) == (403, "forbidden")
    async with svc.session.post(f"{svc.url}{BATCH}", json={"events": [good]}) as resp:
        assert resp.status == 401
    assert await stored_seqs(svc, e) == []


async def check_socket_publish_acks_in_order(svc: Any) -> None:
    """Pipelined publish frames answered by `ref` in the order sent, errors by `ref`, and a
    subscriber of the same execution sees every stored event once."""
    e = new_id()
    publisher = await svc.session.ws_connect(svc.ws_url, headers=svc.auth("engine", ("publish",)))
    frames = [{"type": "publish", "ref": "r0", **progress(e, 0, owner="alice")}]
    frames += [{"type": "publish", "ref": f"r{i}", **progress(e, i)} for i in range(1, 40)]
    frames.insert(20, {"type": "publish", "ref": "low", **progress(e, 1)})  # regression: error by ref
    frames.append({"type": "publish", "ref": "dup", **progress(e, 39, idempotency_key="k")})
    frames.append({"type": "publish", "ref": "dup2", **progress(e, 39, idempotency_key="k")})
    frames.append({"type": "publish", "ref": "end", **complete(e)})
    for frame in frames:  # all sent before reading any answer
        await publisher.send_str(json.dumps(frame))
    answers = [await recv_json(publisher) for _ in frames]
    assert [a["ref"] for a in answers] == [f["ref"] for f in frames]
    low = answers[20]
    assert (low["type"], low["code"], low["execution_id"]) == ("error", "regression", e)
    accepted = [a for a in answers if a["type"] == "published"]
    assert [a["seq"] for a in accepted] == [*range(1, 42), 41, 42]
    assert answers[-2] == {"type": "published", "ref": "dup2", "execution_id": e, "seq": 41, "duplicate": True}
    watcher = await svc.connect("alice")
    got = updates(await watch_to_end(watcher, e))
    assert [u["seq"] for u in got] == list(range(1, 43))
    await publisher.close()
    await watcher.close()


async def check_socket_publish_answers_keep_the_order_of_frames(svc: Any) -> None:
    """Publishes are stored in batches as they queue up, but a frame of another kind is answered
    after the publishes sent before it (a `ping` is a barrier)."""
    e = new_id()
    publisher = await svc.session.ws_connect(svc.ws_url, headers=svc.auth("engine", ("publish",)))
    frames = [{"type": "publish", "ref": f"r{i}", **progress(e, i, **({"owner": "alice"} if i == 0 else {}))}
              for i in range(20)]
    frames += [{"type": "ping"}, "not json", {"type": "publish", "ref": "last", **progress(e, 20)}]
    for frame in frames:  # all sent before reading any answer
        await publisher.send_str(frame if isinstance(frame, str) else json.dumps(frame))
    answers = [await recv_json(publisher) for _ in frames]
    assert [a.get("ref") or a["type"] for a in answers] == [*(f"r{i}" for i in range(20)), "pong", "error", "last"]
    assert answers[21]["code"] == "bad_json" and answers[-1]["seq"] == 21
    await publisher.close()


async def check_socket_publish_live_to_subscriber(svc: Any) -> None:
    """A subscriber already watching gets each socket-published event once, as it is stored."""
    e = new_id()
    publisher = await svc.session.ws_connect(svc.ws_url, headers=svc.auth("engine", ("publish",)))
    await publisher.send_json({"type": "publish", "ref": "a", **progress(e, 1, owner="alice")})
    assert (await recv_json(publisher))["seq"] == 1
    watcher = await svc.connect("alice")
    await watcher.send_json({"type": "subscribe", "execution_id": e, "last_seq": 1})
    assert (await recv_json(watcher))["type"] == "subscribed"
    for value in (2, 3):
        await publisher.send_json({"type": "publish", "ref": str(value), **progress(e, value)})
    await publisher.send_json({"type": "publish", "ref": "end", **complete(e)})
    frames = await recv_until(watcher, lambda f: f.get("event") == "complete")
    assert [f["seq"] for f in updates(frames)] == [2, 3, 4]
    await asyncio.gather(publisher.close(), watcher.close())


async def check_socket_publish_needs_publish_scope(svc: Any) -> None:
    """Who may publish: a subscriber's token is closed 4001 on its first publish frame, and a
    publish-only token may not subscribe (4001 too); nothing is stored."""
    e = new_id()
    watcher = await svc.connect("alice")
    await watcher.send_json({"type": "publish", "ref": "x", **progress(e, 1, owner="alice")})
    msg = await asyncio.wait_for(watcher.receive(), 5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and watcher.close_code == 4001
    publisher = await svc.session.ws_connect(svc.ws_url, headers=svc.auth("engine", ("publish",)))
    await publisher.send_json({"type": "subscribe", "execution_id": e})
    msg = await asyncio.wait_for(publisher.receive(), 5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and publisher.close_code == 4001
    assert await stored_seqs(svc, e) == []


async def check_socket_publish_bad_frames(svc: Any) -> None:
    """A frame without `ref`, with a bad `ref` or a malformed event is answered with an error
    and the socket stays usable."""
    e = new_id()
    publisher = await svc.session.ws_connect(svc.ws_url, headers=svc.auth("engine", ("publish",)))
    await publisher.send_json({"type": "publish", **progress(e, 1, owner="alice")})
    assert (await recv_json(publisher))["code"] == "missing_field"
    await publisher.send_json({"type": "publish", "ref": 7, **progress(e, 1, owner="alice")})
    assert (await recv_json(publisher))["code"] == "invalid_field"
    await publisher.send_json({"type": "publish", "ref": "m", "execution_id": e, "event": "progress", "data": []})
    answer = await recv_json(publisher)
    assert (answer["ref"], answer["code"]) == ("m", "bad_request")
    await publisher.send_json({"type": "publish", "ref": "ok", **progress(e, 1, owner="alice")})
    assert await recv_json(publisher) == {"type": "published", "ref": "ok", "execution_id": e, "seq": 1}
    await publisher.close()


async def check_published_counted_by_path(svc: Any) -> None:
    """events_published_total{path} counts stored events by entrance; refusals and duplicates
    are not counted."""
    before = {path: await published_total(svc, path) for path in ("http", "batch", "ws", "engine")}
    e = new_id()
    headers = svc.auth("engine", ("publish",))
    url = f"{svc.url}/api/v1/executions/{e}/events"
    async with svc.session.post(url, json={"event": "progress", "data": {"progress": 1}, "owner": "alice"},
                                headers=headers) as resp:
        assert resp.status == 202
    await post_batch(svc, {"events": [progress(e, 2), progress(e, 3), progress(e, 0)]})
    publisher = await svc.session.ws_connect(svc.ws_url, headers=headers)
    await publisher.send_json({"type": "publish", "ref": "a", **progress(e, 4, idempotency_key="k")})
    await publisher.send_json({"type": "publish", "ref": "b", **progress(e, 4, idempotency_key="k")})
    assert [(await recv_json(publisher))["seq"] for _ in range(2)] == [4, 4]
    await publisher.close()
    await svc.start_diagnosis()  # the built-in engine's events (its first is stored before the 202)
    after = {path: await published_total(svc, path) for path in before}
    grown = {p: after[p] - before[p] for p in before}
    assert grown.pop("engine") >= 1
    assert grown == {"http": 1, "batch": 2, "ws": 1}
