"""With Redis stopped, every HTTP endpoint that needs the store answers the same 503."""

from __future__ import annotations

import pytest
from redis_fixtures import RedisServer

PUBLISH = ("publish",)


@pytest.mark.parametrize(
    ("method", "path", "body", "scopes"),
    [
        ("POST", "/api/v1/diagnoses", {"brand": "Acme"}, ("subscribe",)),
        ("GET", "/api/v1/executions/e-1", None, ("subscribe",)),
        ("GET", "/api/v1/executions/e-1/events?after=0", None, ("subscribe",)),
        ("POST", "/api/v1/executions/e-1/events", {"event": "progress", "data": {"progress": 1}, "owner": "alice"}, PUBLISH),
        ("GET", "/readyz", None, ()),
    ],
    ids=["start", "poll", "events", "publish", "readyz"],
)
async def test_store_unavailable_is_a_json_503_with_retry_after(
    start_service, own_redis: RedisServer, method: str, path: str, body: object, scopes: tuple[str, ...]
) -> None:
    svc = await start_service(**{"service.redis_url": own_redis.url})
    async with svc.session.get(f"{svc.url}/readyz") as resp:
        assert resp.status == 200  # the store answered until now
    own_redis.kill()
    headers = svc.auth("alice", scopes) if scopes else {}
    async with svc.session.request(method, f"{svc.url}{path}", json=body, headers=headers) as resp:
        answer = await resp.json()
        assert (resp.status, resp.headers.get("Retry-After"), resp.content_type) == (503, "1", "application/json")
    assert answer == {"error": {"code": "store_unavailable", "message": answer["error"]["message"]}}
    assert answer["error"]["message"]
