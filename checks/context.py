"""What every check is given: the target, tokens for the gate's own users, the spec, the inputs.

The gate touches only what it creates: its users and execution ids carry a run id, so it can be
pointed at a shared staging service. Tokens are short-lived and minted with the target's secret.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from diagops.checks.inputs import GateInputs
from diagops.checks.wire import Stream, WireError, follow, strict_loads
from diagops.push.protocol import dumps, ws_url_for
from diagops.spec import Spec

TOKEN_TTL_S = 900.0
HTTP_TIMEOUT_S = 10.0


@dataclass
class HttpAnswer:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass(kw_only=True)
class GateContext:
    spec: Spec
    target: str
    secret: str
    inputs: GateInputs = field(default_factory=GateInputs)
    lang: str = "en"
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    session: Any = None  # aiohttp.ClientSession, opened by `open()`
    memo: dict[str, Any] = field(default_factory=dict)  # shared runs (the performance run) by name

    # -- identities ---------------------------------------------------------------------------
    def user(self, name: str) -> str:
        return f"verify-{self.run_id}-{name}"

    def token(self, name: str = "alice", scopes: tuple[str, ...] = ("subscribe",), *, ttl_s: float = TOKEN_TTL_S,
              lang: str | None = None, secret: str | None = None) -> str:
        from diagops.push.auth import mint_token

        return mint_token(secret or self.secret, self.user(name), scopes, ttl_s=ttl_s, lang=lang,
                          algorithm=self.spec.auth.algorithm)

    def publisher_token(self) -> str:
        return self.token("engine", ("publish",))

    def brand(self, label: str) -> str:
        """A brand no earlier request used, so the service's cache cannot answer it (even for a
        repeated run id): checks that want a cache hit repeat one brand themselves."""
        return f"verify {label} {self.run_id} {secrets.token_hex(4)}"

    def execution_id(self, label: str) -> str:
        return f"verify-{self.run_id}-{label}-{secrets.token_hex(3)}"

    @property
    def ws_url(self) -> str:
        return ws_url_for(self.target)

    # -- plumbing -----------------------------------------------------------------------------
    async def open(self) -> None:
        import aiohttp

        # No session-wide total: it would also end sockets held longer than that. Each HTTP request
        # gets its own deadline instead, and socket reads have theirs (wire.receive).
        # No connection cap either: the performance run holds its sockets while it POSTs.
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=HTTP_TIMEOUT_S),
                                             connector=aiohttp.TCPConnector(limit=0))

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def http(self, method: str, path: str, *, token: str | None = None, json_body: Any = None,
                   headers: dict[str, str] | None = None) -> HttpAnswer:
        """One request; the body parsed strictly when it is JSON, else kept as text."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        import aiohttp

        async with self.session.request(method, self.target.rstrip("/") + path, json=json_body, headers=sent,
                                        timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)) as resp:
            raw = await resp.read()
            body: Any = raw.decode("utf-8", "replace")
            if resp.content_type == "application/json" and raw:
                body = strict_loads(raw)
            return HttpAnswer(resp.status, body, {k: v for k, v in resp.headers.items()})

    async def connect(self, token: str | None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        import aiohttp

        return await self.session.ws_connect(self.ws_url, headers=headers, heartbeat=None, autoping=True,
                                             timeout=aiohttp.ClientWSTimeout(ws_close=HTTP_TIMEOUT_S), **kw)

    async def start_diagnosis(self, user: str = "alice", **body: Any) -> dict[str, Any]:
        body.setdefault("brand", self.brand("diagnosis"))
        answer = await self.http("POST", "/api/v1/diagnoses", token=self.token(user), json_body=body)
        if answer.status != 202 or not isinstance(answer.body, dict) or not isinstance(answer.body.get("execution_id"), str):
            raise WireError(f"POST /api/v1/diagnoses answered {answer.status}: {str(answer.body)[:200]}")
        return answer.body

    async def publish(self, execution_id: str, event: str, data: dict[str, Any], **extra: Any) -> HttpAnswer:
        return await self.http("POST", f"/api/v1/executions/{execution_id}/events", token=self.publisher_token(),
                               json_body={"event": event, "data": data, **extra})

    async def watch(self, execution_ids: list[str], user: str = "alice", *, last_seq: int = 0,
                    timeout_s: float | None = None) -> dict[str, Stream]:
        """Subscribe on one socket and read every execution to its final event."""
        streams = {eid: Stream(eid) for eid in execution_ids}
        deadline = time.monotonic() + (timeout_s or self.spec.verify.final_timeout_s)
        ws = await self.connect(self.token(user))
        try:
            for eid in execution_ids:
                await ws.send_str(dumps({"type": "subscribe", "execution_id": eid, "last_seq": last_seq}))
            await follow(ws, streams, deadline)
        finally:
            await ws.close()
        return streams

    async def wait_final(self, execution_id: str, user: str = "alice") -> dict[str, Any]:
        """Poll until the execution is final (for checks that need it finished, not watched)."""
        deadline = time.monotonic() + self.spec.verify.final_timeout_s
        pause = 0.05
        while time.monotonic() < deadline:
            answer = await self.http("GET", f"/api/v1/executions/{execution_id}", token=self.token(user))
            if answer.status == 200 and isinstance(answer.body, dict) and answer.body.get("status") in ("complete", "error"):
                return answer.body
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)
        raise WireError(f"{execution_id} not final within {self.spec.verify.final_timeout_s:g} s")
