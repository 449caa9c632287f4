"""The page at `/` and its static files over HTTP: types, caching, the CSP, and what is not served."""

from __future__ import annotations

import re

from diagops.push.webpage import CONTENT_TYPES, STATIC_DIR, content_security_policy


async def get(service, path: str, **headers: str):
    async with service.session.get(f"{service.url}{path}", headers=headers) as resp:
        return resp.status, resp.headers, await resp.read()


async def test_the_page_is_html_with_a_csp_of_its_own_origin_and_the_service_s_heartbeat(start_service):
    service = await start_service(**{"heartbeat.interval_s": 3.0, "heartbeat.timeout_s": 1.5})
    status, headers, body = await get(service, "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    host = service.url.removeprefix("http://")
    assert headers["Content-Security-Policy"] == content_security_policy(host)
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'" and policy["script-src"] == "'self'"
    assert policy["connect-src"] == f"'self' ws://{host} wss://{host}"
    assert headers["Cache-Control"] == "no-cache" and headers["X-Content-Type-Options"] == "nosniff"
    text = body.decode()
    assert '<meta name="diagops-heartbeat-ms" content="3000">' in text
    assert '<meta name="diagops-heartbeat-timeout-ms" content="1500">' in text
    for element in ("progress", "stage", "status-text", "transport", "result", "error"):
        assert f'id="{element}"' in text, element
    assert 'data-state="idle"' in text
    assert not re.search(r"<script(?![^>]*\bsrc=)", text) and "style=" not in text  # nothing inline for the CSP to allow


async def test_each_static_file_has_its_type_and_an_etag_that_answers_304(service):
    for name, content_type in CONTENT_TYPES.items():
        path = "/" if name == "index.html" else f"/static/{name}"
        status, headers, body = await get(service, path)
        assert status == 200 and headers["Content-Type"].split(";")[0] == content_type, name
        if name != "index.html":
            assert body == (STATIC_DIR / name).read_bytes()
        again, again_headers, empty = await get(service, path, **{"If-None-Match": headers["ETag"]})
        assert (again, empty, again_headers["ETag"]) == (304, b"", headers["ETag"]), name
        stale, _, _ = await get(service, path, **{"If-None-Match": '"other"'})
        assert stale == 200


async def test_only_the_listed_files_are_served(service):
    for path in ("/static/index.html", "/static/../app.py", "/static/nope.js", "/static/", "/index.html"):
        status, headers, body = await get(service, path)
        assert status == 404 and headers["Content-Type"].startswith("application/json"), path
        assert b"Traceback" not in body
    status, _, _ = await get(service, "/static/diag-client.js?v=1")
    assert status == 200
