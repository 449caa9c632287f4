"""The gate proxy: transparent without faults, and each fault visibly changes what a client sees."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import aiohttp
import pytest
import websocket

from diagops.push.auth import mint_token
from diagops.push.client import start_diagnosis
from tests.conftest import LiveService
from tests.gateproxy import Fault, Faults, GateProxy, rename_metric_family
from tests.push.wsutil import eventually, recv_json, updates, watch_to_end
from tests.servicekit import serve_process, token

RELAYED_HEADERS = ("Content-Type", "Retry-After", "WWW-Authenticate")


def gate_proxy(svc: LiveService, faults: dict[str, Any] | None = None) -> GateProxy:
    """A proxy in front of `svc` that knows alice's and bob's tokens."""
    return GateProxy(svc.url, faults, valid_token=svc.token("alice"),
                     user_tokens={"alice": svc.token("alice"), "bob": svc.token("bob")})


async def watch(svc: LiveService, ws_url: str, execution_id: str, user: str = "alice",
                last_seq: int = 0) -> list[dict[str, Any]]:
    """Every diagnosis_update of one execution, read to its final event over `ws_url`."""
    async with svc.session.ws_connect(ws_url, headers=svc.auth(user)) as ws:
        return updates(await watch_to_end(ws, execution_id, last_seq))


async def answer(svc: LiveService, method: str, url: str, **kw: Any) -> tuple[int, dict[str, str], Any]:
    async with svc.session.request(method, url, **kw) as resp:
        headers = {h: resp.headers[h] for h in RELAYED_HEADERS if h in resp.headers}
        return resp.status, headers, await resp.json(content_type=None)


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in events]


async def test_without_faults_a_streamed_diagnosis_is_the_one_read_directly(service):
    async with gate_proxy(service) as proxy:
        eid = (await service.start_diagnosis())["execution_id"]
        through = await watch(service, proxy.ws_url, eid)  # live, as it happens
        direct = await watch(service, service.ws_url, eid)  # replayed once stored
    assert seqs(through) == list(range(1, len(through) + 1)) and len(through) > 3
    assert through == direct
    assert not proxy.stats


async def test_without_faults_http_answers_are_relayed_as_they_are(service):
    eid = (await service.start_diagnosis())["execution_id"]
    await watch(service, service.ws_url, eid)
    alice = service.auth("alice")
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"/api/v1/executions/{eid}", {"headers": alice}),
        ("GET", f"/api/v1/executions/{eid}?token={service.token('alice')}", {}),
        ("GET", f"/api/v1/executions/{eid}/events?after=2", {"headers": alice}),
        ("GET", f"/api/v1/executions/{eid}/events?after=x", {"headers": alice}),
        ("GET", f"/api/v1/executions/{eid}", {}),
        ("GET", f"/api/v1/executions/{eid}", {"headers": service.auth("bob")}),
        ("GET", "/api/v1/executions/e-unknown", {"headers": alice}),
        ("POST", "/api/v1/diagnoses", {"headers": alice, "data": b"{not json"}),
        ("GET", "/healthz", {}),
    ]
    statuses = set()
    async with gate_proxy(service) as proxy:
        for method, path, kw in calls:
            direct = await answer(service, method, service.url + path, **kw)
            assert await answer(service, method, proxy.url + path, **kw) == direct, path
            statuses.add(direct[0])
        status, _, started = await answer(service, "POST", proxy.url + "/api/v1/diagnoses", headers=alice,
                                          json={"brand": "Acme", "questions": ["q"]})
    assert statuses == {200, 400, 401, 403, 404}
    assert status == 202 and started["ws_url"] == proxy.ws_url  # the client's Host header went upstream


async def test_a_refused_upgrade_keeps_its_status_headers_and_body(service):
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    async with gate_proxy(service) as proxy:
        through = await answer(service, "GET", proxy.ws_url.replace("ws:", "http:"), headers=upgrade)
    direct = await answer(service, "GET", service.ws_url.replace("ws:", "http:"), headers=upgrade)
    assert through == direct and through[0] == 401 and through[2]["error"]["code"] == "unauthorized"


async def test_close_codes_and_pings_cross_the_proxy(service):
    async with gate_proxy(service) as proxy:
        async with service.session.ws_connect(proxy.ws_url, headers=service.auth(), autoping=False) as ws:
            await ws.ping(b"are you there")
            pong = await asyncio.wait_for(ws.receive(), 5)
            assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"are you there")
            await ws.send_str("x" * (service.state.spec.limits.max_frame_bytes + 1))
            closing = await asyncio.wait_for(ws.receive(), 5)
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 1009)  # the service's "too big"


async def test_a_client_close_reaches_the_service_at_once_and_its_answer_comes_back(service):
    async with gate_proxy(service) as proxy:
        ws = await service.session.ws_connect(proxy.ws_url, headers=service.auth())
        await eventually(lambda: service.state.connections, what="the service to hold the socket")
        await ws.close(code=4000, message=b"bye")
        await eventually(lambda: not service.state.connections, timeout=1, what="the service to see the close")
    assert ws.close_code == 1000  # the service's answer, as it gives it directly


async def test_auth_disabled_lets_missing_expired_and_forged_tokens_in(service):
    forged = mint_token("not-the-service-secret-0123456789", "alice")
    refused = [{}, service.auth() | {"Authorization": f"Bearer {service.token(ttl_s=-60)}"},
               {"Authorization": f"Bearer {forged}"}]
    async with gate_proxy(service, {"auth_disabled": True}) as proxy:
        for headers in refused:
            async with service.session.post(service.url + "/api/v1/diagnoses", json={"brand": "A"},
                                            headers=headers) as direct:
                assert direct.status == 401
            async with service.session.post(proxy.url + "/api/v1/diagnoses", json={"brand": "A"},
                                            headers=headers) as through:
                assert through.status == 202
                eid = (await through.json())["execution_id"]
        async with service.session.ws_connect(proxy.ws_url) as ws:  # no token at all
            assert (await watch_to_end(ws, eid))[-1]["event"] == "complete"
        async with service.session.get(proxy.url + "/healthz") as healthy:
            assert healthy.status == 200
    assert proxy.stats[Fault.AUTH_DISABLED] == 4  # three requests and one socket; /healthz needs none


async def test_authz_disabled_lets_bob_read_alices_execution(service):
    eid = (await service.start_diagnosis("alice"))["execution_id"]
    poll = f"/api/v1/executions/{eid}"
    async with gate_proxy(service, {"authz_disabled": ("bob", "alice")}) as proxy:
        direct_status, _, _ = await answer(service, "GET", service.url + poll, headers=service.auth("bob"))
        through_status, _, body = await answer(service, "GET", proxy.url + poll, headers=service.auth("bob"))
        events = await watch(service, proxy.ws_url, eid, user="bob")
        alices_own = await answer(service, "GET", proxy.url + poll, headers=service.auth("alice"))
    assert (direct_status, through_status, body["execution_id"]) == (403, 200, eid)
    assert events[-1]["event"] == "complete"
    assert alices_own[0] == 200
    assert proxy.stats[Fault.AUTHZ_DISABLED] == 2  # bob's poll and bob's socket, not alice's poll


async def test_push_delay_holds_each_update_and_keeps_the_order(service):
    eid = (await service.start_diagnosis())["execution_id"]
    direct = await watch(service, service.ws_url, eid)
    loop = asyncio.get_running_loop()
    async with gate_proxy(service, {"push_delay_s": 0.3}) as proxy:
        async with service.session.ws_connect(proxy.ws_url, headers=service.auth()) as ws:
            await ws.send_json({"type": "subscribe", "execution_id": eid})
            assert (await recv_json(ws))["type"] == "subscribed"  # not an update: not held
            subscribed_at = loop.time()
            first = await recv_json(ws)
            held = loop.time() - subscribed_at
            rest = updates(await watch_to_end(ws, eid, last_seq=first["seq"]))
    # Directly the replay follows `subscribed` within milliseconds. The hold counts from the
    # update's arrival at the proxy, a little before `subscribed` reached this client.
    assert held >= 0.2
    assert [first, *rest] == direct
    assert proxy.stats[Fault.PUSH_DELAY_S] >= len(direct)


async def test_drop_seq_removes_that_update_from_the_stream(service):
    async with gate_proxy(service, {"drop_seq": 3}) as proxy:
        eid = (await service.start_diagnosis())["execution_id"]
        through = await watch(service, proxy.ws_url, eid)
    direct = await watch(service, service.ws_url, eid)
    assert seqs(through) == [1, 2, *range(4, len(direct) + 1)]
    assert proxy.stats == {Fault.DROP_SEQ: 1}


async def test_several_faults_at_once_drop_one_and_duplicate_another(service):
    async with gate_proxy(service, {Fault.DROP_SEQ: 2, Fault.DUPLICATE_SEQ: 4}) as proxy:
        eid = (await service.start_diagnosis())["execution_id"]
        through = await watch(service, proxy.ws_url, eid)
    direct = await watch(service, service.ws_url, eid)
    assert seqs(through) == [1, 3, 4, 4, *range(5, len(direct) + 1)]
    assert through[2] == through[3] == direct[3]
    assert proxy.stats == {Fault.DROP_SEQ: 1, Fault.DUPLICATE_SEQ: 1}


async def test_replay_broken_resends_what_a_resuming_client_already_had(service):
    eid = (await service.start_diagnosis())["execution_id"]
    await watch(service, service.ws_url, eid)  # all stored: what follows is replay alone
    direct = await watch(service, service.ws_url, eid, last_seq=3)
    async with gate_proxy(service, {"replay_broken"}) as proxy:
        through = await watch(service, proxy.ws_url, eid, last_seq=3)
    assert seqs(direct)[0] == 4 and seqs(through)[0] == 1
    assert through[3:] == direct
    assert proxy.stats == {Fault.REPLAY_BROKEN: 1}


async def test_strip_friendly_removes_message_and_retryable_from_errors_everywhere(start_service):
    svc = await start_service(**{"engine.failure_rate": 1.0})
    eid = (await svc.start_diagnosis())["execution_id"]
    direct = (await watch(svc, svc.ws_url, eid))[-1]["data"]
    poll, events = f"/api/v1/executions/{eid}", f"/api/v1/executions/{eid}/events"
    async with gate_proxy(svc, {"strip_friendly"}) as proxy:
        socket = (await watch(svc, proxy.ws_url, eid))[-1]["data"]
        polled = (await answer(svc, "GET", proxy.url + poll, headers=svc.auth()))[2]["error"]
        listed = (await answer(svc, "GET", proxy.url + events, headers=svc.auth()))[2][-1]["data"]
    assert {"message", "retryable"} <= direct.keys()
    friendly_free = {k: v for k, v in direct.items() if k not in ("message", "retryable")}
    assert socket == polled == listed == friendly_free
    assert proxy.stats == {Fault.STRIP_FRIENDLY: 3}


async def test_cache_busted_makes_an_identical_request_miss_the_cache(service):
    body = {"brand": "Acme", "questions": ["price?"]}
    await watch(service, service.ws_url, (await service.start_diagnosis(**body))["execution_id"])
    assert (await service.start_diagnosis(**body))["cached"] is True
    async with gate_proxy(service, {"cache_busted"}) as proxy:
        status, _, through = await answer(service, "POST", proxy.url + "/api/v1/diagnoses", json=body,
                                          headers=service.auth())
    assert (status, through["cached"]) == (202, False)
    assert proxy.stats == {Fault.CACHE_BUSTED: 1}


async def test_polling_frozen_answers_the_first_poll_forever(service):
    eid = (await service.start_diagnosis())["execution_id"]
    poll = f"/api/v1/executions/{eid}"
    async with gate_proxy(service, {"polling_frozen"}) as proxy:
        first = await answer(service, "GET", proxy.url + poll, headers=service.auth())
        await watch(service, service.ws_url, eid)
        second = await answer(service, "GET", proxy.url + poll, headers=service.auth())
    direct = await answer(service, "GET", service.url + poll, headers=service.auth())
    assert second == first and first[2]["status"] != "complete"
    assert direct[2]["status"] == "complete" and direct[2]["seq"] > first[2]["seq"]
    assert proxy.stats == {Fault.POLLING_FROZEN: 1}


async def test_rename_metric_renames_the_whole_family(service):
    await watch(service, service.ws_url, (await service.start_diagnosis())["execution_id"])
    faults = {"rename_metric": ("diagops_push_latency_seconds", "diagops_delivery_seconds")}
    async with gate_proxy(service, faults) as proxy:
        async with service.session.get(proxy.url + "/metrics") as resp:
            text = await resp.text()
            content_type = resp.headers["Content-Type"]
    assert content_type.startswith("text/plain")
    assert "diagops_push_latency_seconds" not in text
    for line in ("# TYPE diagops_delivery_seconds histogram", "diagops_delivery_seconds_bucket{",
                 "diagops_delivery_seconds_count ", "diagops_delivery_seconds_sum "):
        assert line in text, line
    assert "diagops_ws_connections_opened_total " in text  # other families stay
    assert proxy.stats == {Fault.RENAME_METRIC: 1}


def test_renaming_a_counter_by_its_total_name_renames_its_created_twin_too():
    text = ("# HELP a_total A.\n# TYPE a_total counter\na_total 1.0\na_created 5.0\n"
            "ab_total 2.0\n")
    renamed, lines = rename_metric_family(text, "a_total", "b_total")
    assert renamed == ("# HELP b_total A.\n# TYPE b_total counter\nb_total 1.0\nb_created 5.0\n"
                       "ab_total 2.0\n")
    assert lines == 4


async def test_http_500_on_breaks_only_the_matching_paths(service):
    eid = (await service.start_diagnosis())["execution_id"]
    async with gate_proxy(service, {"http_500_on": "/api/v1/executions/"}) as proxy:
        broken = await answer(service, "GET", f"{proxy.url}/api/v1/executions/{eid}", headers=service.auth())
        healthy = await answer(service, "GET", proxy.url + "/healthz")
    assert broken[0] == 500 and broken[2]["error"]["code"] == "internal"
    assert healthy[0] == 200
    assert proxy.stats == {Fault.HTTP_500_ON: 1}


async def test_ws_refused_answers_every_upgrade_502_and_lets_http_through_until_switched_off(service):
    eid = (await service.start_diagnosis())["execution_id"]
    async with gate_proxy(service, {Fault.WS_REFUSED: True}) as proxy:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await service.session.ws_connect(proxy.ws_url, headers=service.auth())
        status, _, body = await answer(service, "GET", f"{proxy.url}/api/v1/executions/{eid}", headers=service.auth())
        proxy.faults = Faults()  # switched while it runs
        streamed = await watch(service, proxy.ws_url, eid)
    assert refused.value.status == 502
    assert status == 200 and body["execution_id"] == eid
    assert streamed[-1]["event"] == "complete"
    assert proxy.stats == {Fault.WS_REFUSED: 1}


async def test_ws_silent_opens_the_socket_and_never_answers(service):
    eid = (await service.start_diagnosis())["execution_id"]
    async with gate_proxy(service, {Fault.WS_SILENT: True}) as proxy:
        async with service.session.ws_connect(proxy.ws_url, headers=service.auth()) as ws:
            await ws.send_json({"type": "subscribe", "execution_id": eid})
            await ws.send_json({"type": "ping"})
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive(timeout=0.5)  # the service would have answered both within milliseconds
    assert proxy.stats == {Fault.WS_SILENT: 1}


@pytest.mark.parametrize("faults, needs", [
    ({"no_such_fault": True}, "unknown fault"),
    ({"auth_disabled": True}, "valid_token"),
])
def test_a_fault_it_cannot_apply_is_refused_up_front(faults, needs):
    with pytest.raises(ValueError, match=needs):
        GateProxy("http://127.0.0.1:1", faults)


def test_authz_disabled_needs_the_token_of_the_user_it_impersonates():
    with pytest.raises(ValueError, match="'alice'"):
        GateProxy("http://127.0.0.1:1", {"authz_disabled": ("bob", "alice")}, user_tokens={"bob": "t"})


def test_sync_use_in_front_of_a_serve_process(tmp_path):
    with serve_process(tmp_path) as svc, GateProxy(svc.url, {"drop_seq": 2}) as proxy:
        started = start_diagnosis(proxy.url, token(), {"brand": "Acme"})
        ws = websocket.create_connection(proxy.ws_url, header=[f"Authorization: Bearer {token()}"], timeout=10)
        try:
            ws.send(json.dumps({"type": "subscribe", "execution_id": started["execution_id"]}))
            frames = [json.loads(ws.recv())]
            while frames[-1].get("event") not in ("complete", "error"):
                frames.append(json.loads(ws.recv()))
        finally:
            ws.close()
        with urllib.request.urlopen(proxy.url + "/healthz", timeout=5) as resp:
            assert resp.status == 200
    assert proxy.stats == {Fault.DROP_SEQ: 1}
    assert seqs(updates(frames))[:3] == [1, 3, 4]
    assert frames[-1]["event"] == "complete"
