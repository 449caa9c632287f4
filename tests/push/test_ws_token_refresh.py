"""A socket lives as long as its token: closed 4001 when `exp` passes, unless the client sent a
`refresh` with a valid token for the same `sub` first."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import jwt

from tests.push.wsutil import recv_json
from tests.servicekit import SECRET

FAR = 4102444800  # 2100-01-01
# Short-lived tokens must outlive the upgrade on a loaded machine, then expire within the test.
SHORT_S = 2.0


def _jwt(sub: str = "alice", exp: float = FAR, scope: str = "subscribe") -> str:
    return jwt.encode({"sub": sub, "scope": scope, "exp": exp}, SECRET)


async def _connect(svc, bearer: str) -> aiohttp.ClientWebSocketResponse:
    return await svc.session.ws_connect(svc.ws_url, headers={"Authorization": f"Bearer {bearer}"})


async def _closed_with(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> int | None:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), (msg.type, msg.data)
    return ws.close_code


async def test_a_socket_is_closed_4001_when_its_token_expires(service):
    began = time.time()
    ws = await _connect(service, _jwt(exp=began + SHORT_S))
    assert await _closed_with(ws) == 4001
    assert time.time() >= began + SHORT_S
    assert service.state.metrics.ws_disconnections.labels("expired")._value.get() == 1


async def test_a_refresh_for_the_same_user_keeps_the_socket_open_past_the_old_exp(service):
    old_exp = time.time() + SHORT_S
    ws = await _connect(service, _jwt(exp=old_exp))
    await ws.send_json({"type": "refresh", "token": _jwt(exp=FAR)})
    assert await recv_json(ws) == {"type": "refreshed", "exp": FAR}
    await asyncio.sleep(max(0.0, old_exp - time.time()) + 0.3)  # the point: the old deadline passes
    await ws.send_json({"type": "ping"})
    assert (await recv_json(ws))["type"] == "pong"
    await ws.close()


async def test_a_refresh_can_shorten_the_life_too(service):
    ws = await service.connect()  # the fixture's token lasts an hour
    await ws.send_json({"type": "refresh", "token": _jwt(exp=time.time() + SHORT_S)})
    assert (await recv_json(ws))["type"] == "refreshed"
    assert await _closed_with(ws, timeout=SHORT_S + 5) == 4001


async def test_a_refresh_for_another_user_is_forbidden_and_the_old_exp_still_holds(service):
    ws = await _connect(service, _jwt(exp=time.time() + SHORT_S))
    await ws.send_json({"type": "refresh", "token": _jwt(sub="mallory")})
    error = await recv_json(ws)
    assert error["type"] == "error" and error["code"] == "forbidden"
    assert await _closed_with(ws) == 4001


async def test_bad_refresh_frames_are_answered_and_change_nothing(service):
    ws = await _connect(service, _jwt(exp=time.time() + SHORT_S + 1))
    cases = [
        ({"type": "refresh"}, "missing_field"),
        ({"type": "refresh", "token": 5}, "invalid_field"),
        ({"type": "refresh", "token": ""}, "invalid_field"),
        ({"type": "refresh", "token": "not.a.jwt"}, "invalid_field"),
        ({"type": "refresh", "token": jwt.encode({"sub": "alice", "exp": FAR, "scope": "subscribe"}, "another-secret-0123456789-abcdefghij")}, "invalid_field"),
        ({"type": "refresh", "token": _jwt(exp=time.time() - 10)}, "invalid_field"),
        ({"type": "refresh", "token": _jwt(scope="publish")}, "invalid_field"),
    ]
    for frame, code in cases:
        await ws.send_json(frame)
        error = await recv_json(ws)
        assert error["type"] == "error" and error["code"] == code, (frame, error)
    assert await _closed_with(ws) == 4001  # none of them moved the deadline
