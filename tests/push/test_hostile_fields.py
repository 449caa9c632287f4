"""Fields a client controls, each held to one rule wherever it enters: token claims, execution
ids, `after`, a progress event's `progress`, a frame too big, and what reaches the text log."""

from __future__ import annotations

import json
import logging

import aiohttp
import jwt
import pytest

from diagops.push.logs import text_formatter
from tests.push.hostile_checks import check_after_bounds
from tests.push.wsutil import eventually, recv_json
from tests.servicekit import SECRET, token

FAR = 4102444800  # 2100-01-01


def _jwt(**claims: object) -> str:
    return jwt.encode({"sub": "alice", "scope": "subscribe", "exp": FAR, **claims}, SECRET)


@pytest.mark.parametrize(
    "claims",
    [{"exp": str(FAR)}, {"exp": True}, {"exp": [FAR]}, {"iat": "yesterday"}, {"nbf": "0"},
     {"scope": ["subscribe"]}, {"lang": 5}, {"sub": 5}, {"sub": "\ud800"}],
    ids=repr,
)
async def test_a_token_whose_claims_have_the_wrong_type_is_refused(service, claims):
    bad = _jwt(**claims)
    async with service.session.get(f"{service.url}/api/v1/executions/e-1",
                                   headers={"Authorization": f"Bearer {bad}"}) as resp:
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await service.session.ws_connect(f"{service.ws_url}?token={bad}")
    assert refused.value.status == 401


BAD_IDS = ["e-a%0Ab", "e-a%00b", "e%20x", "e-" + "x" * 199, "e%22x%5C", "%C3%A9"]


@pytest.mark.parametrize("quoted", BAD_IDS)
async def test_an_execution_id_outside_the_rule_is_400_at_every_http_entrance(service, quoted):
    base = f"{service.url}/api/v1/executions/{quoted}"
    publish = {"event": "progress", "data": {"progress": 1}, "owner": "alice"}
    async with service.session.post(base + "/events", json=publish, headers=service.auth("engine", ("publish",))) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_field"
    for url in (base, base + "/events"):
        async with service.session.get(url, headers=service.auth()) as resp:
            assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_field"


@pytest.mark.parametrize("execution_id", ["e-a\nb", "e-a\x00b", "e x", "e-" + "x" * 199, "é"])
async def test_an_execution_id_outside_the_rule_is_invalid_field_on_the_socket(service, execution_id):
    ws = await service.connect()
    for kind in ("subscribe", "unsubscribe"):
        await ws.send_json({"type": kind, "execution_id": execution_id})
        error = await recv_json(ws)
        assert error["type"] == "error" and error["code"] == "invalid_field", error


async def test_the_longest_id_the_rule_allows_is_published_and_watched(service):
    execution_id = "e-" + "A1._:-" * 33  # 200 characters, every kind the rule allows
    headers = service.auth("engine", ("publish",))
    body = {"event": "progress", "data": {"progress": 1}, "owner": "alice"}
    async with service.session.post(f"{service.url}/api/v1/executions/{execution_id}/events", json=body,
                                    headers=headers) as resp:
        assert resp.status == 202, await resp.text()
    ws = await service.connect()
    await ws.send_json({"type": "subscribe", "execution_id": execution_id})
    assert (await recv_json(ws))["type"] == "subscribed"
    assert (await recv_json(ws))["seq"] == 1


async def test_after_is_bounded_to_a_64_bit_integer(service):
    await check_after_bounds(service)


@pytest.mark.parametrize("data", [{}, {"stage": "queued"}, {"progress": 5.0}, {"progress": None}], ids=repr)
async def test_a_progress_event_without_an_integer_progress_is_refused(service, data):
    body = {"event": "progress", "data": data, "owner": "alice"}
    async with service.session.post(f"{service.url}/api/v1/executions/e-p1/events", json=body,
                                    headers=service.auth("engine", ("publish",))) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_request"
    assert await service.state.store.snapshot("e-p1") is None


@pytest.mark.parametrize("body", [
    {"event": "progress", "data": {"progress": 1}, "owner": "alice", "lang": None},
    {"event": "progress", "data": {"progress": 1}, "owner": "alice", "lang": {}},
    {"event": "progress", "data": {"progress": 1, "lang": ""}, "owner": "alice"},
    {"event": "progress", "data": {"progress": 1}, "owner": None},
    {"event": "progress", "data": {"progress": 1, "status_text": 5}, "owner": "alice"},
    {"event": "error", "data": {"retryable": "yes"}, "owner": "alice"},
    {"event": "error", "data": {"message": ["m"]}, "owner": "alice"},
    {"event": "error", "data": {"error_details": "d"}, "owner": "alice"},
], ids=repr)
async def test_a_publish_field_present_with_the_wrong_type_is_refused_not_taken_for_absent(service, body):
    """Found by Schemathesis (tests/push/test_openapi.py): these were stored, a falsy `lang` read as absent."""
    async with service.session.post(f"{service.url}/api/v1/executions/e-t1/events", json=body,
                                    headers=service.auth("engine", ("publish",))) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_request"
    assert await service.state.store.snapshot("e-t1") is None


async def test_a_bad_lang_is_refused_on_a_later_event_too(service):
    publish = service.auth("engine", ("publish",))
    url = f"{service.url}/api/v1/executions/e-t2/events"
    async with service.session.post(url, json={"event": "progress", "data": {"progress": 1}, "owner": "alice"},
                                    headers=publish) as resp:
        assert resp.status == 202
    async with service.session.post(url, json={"event": "progress", "data": {"progress": 2}, "lang": "fr"},
                                    headers=publish) as resp:
        assert resp.status == 400
    assert (await service.state.store.snapshot("e-t2")).seq == 1


async def test_a_frame_too_big_is_counted_as_too_big(start_service):
    svc = await start_service(**{"limits.max_frame_bytes": 1024})
    ws = await svc.connect()
    await ws.send_str('{"type": "ping", "pad": "' + "x" * 2000 + '"}')
    assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
    reasons = svc.state.metrics.ws_disconnections
    await eventually(lambda: reasons.labels("too_big")._value.get() == 1, what="a too_big disconnection")
    assert reasons.labels("client")._value.get() == 0


def test_text_logs_escape_control_characters():
    record = logging.LogRecord("aiohttp.access", logging.INFO, __file__, 1, "%s %s %s", 
                               ("GET", "/x\n2026-12-01 09:00:00,000 ERROR diagops.forged: owned\x00\x1b[31m", 404),
                               None)
    line = text_formatter().format(record)
    assert "\n" not in line and "\x00" not in line and "\x1b" not in line
    assert "/x\\n2026-12-01 09:00:00,000 ERROR diagops.forged: owned\\x00\\x1b[31m 404" in line


@pytest.mark.parametrize("where", ["header", "url"])
async def test_an_over_long_header_or_url_gets_a_json_400_that_does_not_echo_the_token(service, where):
    secret_part = "SECRETTOKENSTART" + "x" * 9000
    headers, url = {}, f"{service.url}/healthz"
    if where == "header":
        headers["Authorization"] = f"Bearer {secret_part}"
    else:
        url += f"?token={secret_part}"
    async with service.session.get(url, headers=headers) as resp:
        assert resp.status == 400 and resp.content_type == "application/json"
        text = await resp.text()
    assert "SECRETTOKEN" not in text
    body = json.loads(text)
    assert set(body) == {"error"} and body["error"]["code"] == "bad_request" and body["error"]["message"]


async def test_a_frame_of_exactly_the_limit_is_accepted_and_one_byte_more_is_closed_1009(start_service):
    svc = await start_service(**{"limits.max_frame_bytes": 1024})
    ws = await svc.connect()
    frame = '{"type": "ping", "pad": "' + "x" * 1024 + '"}'
    exact, over = frame[:1022] + '"}', frame[:1023] + '"}'
    assert (len(exact.encode()), len(over.encode())) == (1024, 1025)
    await ws.send_str(exact)
    assert (await recv_json(ws))["type"] == "pong"
    await ws.send_str(over)
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1009


async def test_a_frame_the_server_fails_on_closes_1011_and_is_logged(service, monkeypatch, caplog):
    """A bug can only be injected: here the hub's subscribe raises what no store does."""
    async def broken(*_args, **_kwargs):
        raise RuntimeError("an injected bug")

    await service.state.publish("e-bug", "progress", {"progress": 1}, owner="alice")
    monkeypatch.setattr(service.state.hub, "subscribe", broken)
    ws = await service.connect()
    with caplog.at_level(logging.ERROR, logger="diagops.ws"):
        await ws.send_json({"type": "subscribe", "execution_id": "e-bug"})
        assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 1011
    assert any("an injected bug" in (r.exc_text or "") or r.exc_info for r in caplog.records)
    reasons = service.state.metrics.ws_disconnections
    await eventually(lambda: reasons.labels("internal")._value.get() == 1, what="an internal disconnection")
