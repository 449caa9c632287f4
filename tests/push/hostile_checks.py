"""The checks behind the hostile-input cases, run against whichever service a tier starts."""

from __future__ import annotations

import uuid

from tests.conftest import LiveService
from tests.push.hostile_cases import HttpCase, WsCase
from tests.push.wsutil import recv_json, updates, watch_to_end


async def check_ws_case(service: LiveService, case: WsCase) -> None:
    """The frame gets its `error` frame, and the same socket still follows a diagnosis."""
    ws = await service.connect()
    await ws.send_str(case.frame)
    error = await recv_json(ws)
    assert error["type"] == "error" and error["code"] == case.code and error["message"], error
    eid = (await service.start_diagnosis())["execution_id"]
    assert updates(await watch_to_end(ws, eid))[-1]["event"] == "complete"


async def check_http_case(service: LiveService, case: HttpCase) -> None:
    """The body gets the JSON error it deserves, and nothing is stored under its execution."""
    eid = f"e-h{uuid.uuid4().hex}"
    headers = {**service.auth("engine" if "publish" in case.scopes else "alice", case.scopes),
               "Content-Type": "application/json"}
    async with service.session.post(service.url + case.path.format(eid=eid), data=case.body, headers=headers) as resp:
        assert resp.status == case.status and resp.content_type == "application/json", await resp.text()
        body = await resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == case.code and body["error"]["message"], body
    assert await service.state.store.snapshot(eid) is None


async def check_after_bounds(service: LiveService) -> None:
    """`after` is a 64-bit count: the largest is an empty list, anything past it (or not made of
    ASCII digits) is 400 `invalid_field`, whatever the store."""
    eid = (await service.start_diagnosis())["execution_id"]
    url = f"{service.url}/api/v1/executions/{eid}/events"
    async with service.session.get(url, params={"after": str(2**63 - 1)}, headers=service.auth()) as resp:
        assert resp.status == 200 and await resp.json() == []
    for after in (str(2**63), "1" + "0" * 23, "²", "١", "-1", "+1", " 1", ""):
        async with service.session.get(url, params={"after": after}, headers=service.auth()) as resp:
            assert resp.status == 400, (after, await resp.text())
            assert (await resp.json())["error"]["code"] == "invalid_field"
