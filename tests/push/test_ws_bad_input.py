"""Bad frames and bad tokens: a clear error, nothing changes, everyone else is still served."""

from __future__ import annotations

import aiohttp
import jwt
import pytest

from diagops.push.protocol import CLOSE_TOO_BIG
from tests.push.wsutil import recv_json, updates, watch_to_end
from tests.servicekit import token


@pytest.mark.parametrize(
    ("frame", "code", "names_execution"),
    [
        ("not json", "bad_json", False),
        ("[1, 2]", "bad_json", False),
        ('"text"', "bad_json", False),
        ('{"execution_id": "e-1"}', "missing_field", True),
        ('{"type": "subscribe"}', "missing_field", False),
        ('{"type": "subscribe", "execution_id": 7}', "invalid_field", False),
        ('{"type": "subscribe", "execution_id": "e-x", "last_seq": -1}', "invalid_field", True),
        ('{"type": "subscribe", "execution_id": "e-x", "last_seq": "3"}', "invalid_field", True),
        ('{"type": "unsubscribe"}', "missing_field", False),
        ('{"type": "launch", "execution_id": "e-1"}', "unknown_type", True),
        ('{"type": "subscribe", "execution_id": "e-unknown"}', "not_found", True),
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_connection_stays_usable(service, frame, code, names_execution):
    ws = await service.connect()
    await ws.send_str(frame)
    error = await recv_json(ws)
    assert error["type"] == "error" and error["code"] == code and error["message"]
    assert ("execution_id" in error) is names_execution
    eid = (await service.start_diagnosis())["execution_id"]
    assert updates(await watch_to_end(ws, eid))[-1]["event"] == "complete"


async def test_binary_frames_are_refused_as_bad_json(service):
    ws = await service.connect()
    await ws.send_bytes(b"\x00\x01")
    assert (await recv_json(ws))["code"] == "bad_json"


async def test_another_users_execution_is_forbidden(service):
    eid = (await service.start_diagnosis(user="alice"))["execution_id"]
    mallory = await service.connect(user="mallory")
    await mallory.send_json({"type": "subscribe", "execution_id": eid})
    error = await recv_json(mallory)
    assert error == {"type": "error", "code": "forbidden", "message": error["message"], "execution_id": eid}
    assert not any(service.state.hub.subscriptions(c) for c in service.state.connections)


async def test_an_oversized_frame_closes_that_socket_1009_and_no_other(start_service):
    svc = await start_service(**{"limits.max_frame_bytes": 1024})
    victim = await svc.connect()
    other = await svc.connect()
    await victim.send_str('{"type": "ping", "pad": "' + "x" * 2000 + '"}')
    msg = await victim.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == CLOSE_TOO_BIG
    eid = (await svc.start_diagnosis())["execution_id"]
    assert updates(await watch_to_end(other, eid))[-1]["event"] == "complete"


async def test_too_many_subscriptions_is_refused_per_connection(start_service):
    svc = await start_service(**{"limits.max_subscriptions": 2, "engine.speed": 0.5})
    ids = [(await svc.start_diagnosis(brand=f"b{i}"))["execution_id"] for i in range(3)]
    ws = await svc.connect()
    for eid in ids[:2]:
        await ws.send_json({"type": "subscribe", "execution_id": eid})
    await ws.send_json({"type": "subscribe", "execution_id": ids[2]})
    frames = [await recv_json(ws) for _ in range(3)]
    refusal = [f for f in frames if f["type"] == "error"]
    assert refusal == [{"type": "error", "code": "too_many_subscriptions", "message": refusal[0]["message"],
                        "execution_id": ids[2]}]


@pytest.mark.parametrize(
    ("headers", "query", "reason"),
    [
        ({}, "", "missing"),
        ({"Authorization": "Bearer not-a-jwt"}, "", "invalid"),
        ({}, "?token=" + jwt.encode({"sub": "a", "exp": 4102444800, "scope": "subscribe"}, "another-secret-of-enough-length-32b"), "invalid"),
        ({"Authorization": "Bearer " + token("alice", ttl_s=-10)}, "", "expired"),
        # A publish-only token may open a publisher socket; one with neither scope may not.
        ({"Authorization": "Bearer " + token("engine", ("admin",))}, "", "scope"),
    ],
)
async def test_upgrade_without_a_valid_subscribe_token_is_refused_401(service, headers, query, reason):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await service.session.ws_connect(service.ws_url + query, headers=headers)
    assert refused.value.status == 401
    sample = service.state.metrics.auth_failures.labels(reason)._value.get()
    assert sample == 1


async def test_token_in_query_parameter_is_accepted(service):
    ws = await service.session.ws_connect(f"{service.ws_url}?token={token('alice')}")
    await ws.send_json({"type": "ping"})
    assert (await recv_json(ws))["type"] == "pong"
