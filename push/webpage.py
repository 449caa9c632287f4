"""The live diagnosis page at `/` and its static files (`push/static/`, shipped as package data).

The files are read once, when the app is built: a request never touches the disk, and a file
missing from an install fails at start-up rather than as a 500 later. Names are unversioned, so
they are served `no-cache` with an ETag: a browser revalidates each load (a 304 when nothing
changed) and never runs a page from one release with the client of another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from diagops.push.keys import STATIC_FILES
from diagops.spec import Spec

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {
    "index.html": "text/html",
    "page.css": "text/css",
    "page.js": "text/javascript",
    "diag-client.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}
CACHE_CONTROL = "no-cache"


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


def _static_file(name: str, body: bytes) -> StaticFile:
    return StaticFile(body, CONTENT_TYPES[name], '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def load_static_files(spec: Spec) -> dict[str, StaticFile]:
    """Every served file, the page with the service's heartbeat written in: the client's
    dead-socket deadline follows the service it talks to, not a guess."""
    files = {}
    for name in CONTENT_TYPES:
        body = (STATIC_DIR / name).read_bytes()
        if name == "index.html":
            hb = spec.heartbeat
            body = (body.replace(b"{{heartbeat_ms}}", str(round(hb.interval_s * 1000)).encode())
                        .replace(b"{{heartbeat_timeout_ms}}", str(round(hb.timeout_s * 1000)).encode()))
        files[name] = _static_file(name, body)
    return files


def content_security_policy(host: str) -> str:
    """Only the page's own origin, for scripts, styles, fetches and its socket. `connect-src`
    names ws:/wss: of the host as well as 'self', which older browsers do not stretch to sockets."""
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            f"connect-src 'self' ws://{host} wss://{host}; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")


def _serve(request: web.Request, name: str) -> web.Response:
    file = request.app[STATIC_FILES][name]
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": file.etag, "X-Content-Type-Options": "nosniff"}
    if name == "index.html":
        headers["Content-Security-Policy"] = content_security_policy(request.host)
        headers["Referrer-Policy"] = "no-referrer"
    if file.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    charset = None if file.content_type.startswith("image/") else "utf-8"
    return web.Response(body=file.body, content_type=file.content_type, charset=charset, headers=headers)


async def index(request: web.Request) -> web.Response:
    return _serve(request, "index.html")


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name == "index.html" or name not in request.app[STATIC_FILES]:
        raise web.HTTPNotFound()
    return _serve(request, name)


def add_page_routes(app: web.Application, spec: Spec) -> None:
    app[STATIC_FILES] = load_static_files(spec)
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static_file)
