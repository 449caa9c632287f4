"""What taking one HTTP publish costs, and how much of it is the framework.

    .venv/bin/python -m benchmarks.http_floor                 # 3 servers x 10 s, about 1 minute
    .venv/bin/python -m benchmarks.http_floor --seconds 20 --repeat 3 --json floor.json

Three servers take the same stream of keep-alive POSTs from `wrk` (Debian's, one thread,
`--connections` connections, as fast as they answer), one after the other in one run:

- `diagops`: `diagops serve` (memory store, no subscriber), `POST /api/v1/executions/{id}/events`
  with a `publish` token, cycling over 1,000 executions: the whole single-event path (auth,
  strict JSON, lifecycle rules, store, the answer).
- `aiohttp-floor`: a handler on the same stack (aiohttp on uvloop, no access log) that reads the
  body, parses it with orjson and answers a fixed `{"seq": 1}`: what any publish endpoint built
  on aiohttp costs before doing anything of its own.
- `nchan`: nginx + Nchan `POST /pub?id=...` with the frame it would push.

Per server: requests/s, server CPU in % of a core and µs of server CPU per request (user +
system of the server's processes over the window / requests answered). With the server at a
full core, requests/s is its single-core capacity. The `floor share` column says which part of
our per-request CPU the bare framework already spends: the bound on what tuning our own code can
reach on this stack. Nothing subscribes, so delivery costs nothing here (push_bench measures it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` and the service importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.nchan import nchan_missing, nchan_server  # noqa: E402
from benchmarks.servers import diagops_server  # noqa: E402
from diagops.procs.executor import Executor  # noqa: E402
from diagops.procs.ports import free_port  # noqa: E402
from diagops.procs.readiness import TcpPort  # noqa: E402
from diagops.push.auth import mint_token  # noqa: E402

WRK = os.environ.get("BENCH_WRK", "/usr/bin/wrk")
EXECUTIONS = 1000
# ~250 bytes pushed, as push_bench's events: a progress event with a status text and padding.
DATA = {"progress": 50, "stage": "ai_fetching", "status": "processing", "status_text": "fetching answers", "pad": "x" * 120}
# What both aiohttp servers are posted: the single-event API's body (owner on every event: the first creates).
PUBLISH_BODY = json.dumps({"event": "progress", "owner": "bench", "data": DATA}, separators=(",", ":"))

WRK_SCRIPT = """\
local n = 0
local prefix, suffix, body = os.getenv("FLOOR_PREFIX"), os.getenv("FLOOR_SUFFIX"), os.getenv("FLOOR_BODY")
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("FLOOR_TOKEN")}
request = function()
  n = n + 1
  return wrk.format("POST", prefix .. "e-" .. (n % %(executions)d) .. suffix, headers, body)
end
""".replace("%(executions)d", str(EXECUTIONS))

MINIMAL_APP = """\
import sys, orjson, uvloop
from aiohttp import web

async def publish(request):
    orjson.loads(await request.read())
    return web.Response(body=b'{"seq":1}', content_type="application/json")

app = web.Application()
app.router.add_post("/api/v1/executions/{execution_id}/events", publish)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


@dataclass
class Result:
    server: str
    requests: int
    seconds: float
    server_cpu_s: float
    non_2xx: int

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def us_per_request(self) -> float:
        return self.server_cpu_s / max(self.requests, 1) * 1e6

    @property
    def core_percent(self) -> float:
        return self.server_cpu_s / self.seconds * 100


@dataclass
class Endpoint:
    name: str
    port: int
    pids: tuple[int, ...]
    prefix: str
    suffix: str
    body: str
    token: str = ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.http_floor", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="measured window per server (default 10)")
    ap.add_argument("--warmup", type=float, default=2.0, help="load before the window (default 2)")
    ap.add_argument("--connections", type=int, default=32, help="wrk's keep-alive connections (default 32)")
    ap.add_argument("--repeat", type=int, default=1, help="run every server N times, median shown (default 1)")
    ap.add_argument("--skip-nchan", action="store_true", help="only our service and the aiohttp floor")
    ap.add_argument("--json", metavar="PATH", help="write every run as JSON to PATH ('-': stdout)")
    return ap.parse_args(argv)


def server_cpu(pids: tuple[int, ...]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        root = psutil.Process(pid)
        for proc in (root, *root.children(recursive=True)):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def wrk(endpoint: Endpoint, seconds: float, connections: int, script: Path) -> tuple[int, int]:
    """(requests answered, non-2xx answers) of one wrk run against the endpoint."""
    env = {**os.environ, "FLOOR_PREFIX": endpoint.prefix, "FLOOR_SUFFIX": endpoint.suffix, "FLOOR_BODY": endpoint.body,
           "FLOOR_TOKEN": endpoint.token or "none"}
    argv = [WRK, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", str(script),
            f"http://127.0.0.1:{endpoint.port}"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60, check=True)
    total = re.search(r"(\d+) requests in", done.stdout)
    if total is None:
        raise RuntimeError(f"wrk printed no request count:\n{done.stdout}{done.stderr}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    return int(total.group(1)), int(bad.group(1)) if bad else 0


def measure(endpoint: Endpoint, args: argparse.Namespace, script: Path) -> Result:
    if args.warmup > 0:
        wrk(endpoint, args.warmup, args.connections, script)
    before = server_cpu(endpoint.pids)
    requests, non_2xx = wrk(endpoint, args.seconds, args.connections, script)
    spent = server_cpu(endpoint.pids) - before
    return Result(endpoint.name, requests, max(1, round(args.seconds)), spent, non_2xx)


@contextmanager
def endpoints(name: str, log_dir: Path) -> Iterator[Endpoint]:
    """The named server, started fresh for one run and stopped after it."""
    if name == "diagops":
        secret = secrets.token_urlsafe(32)
        with diagops_server(log_dir, secret=secret) as target:
            token = mint_token(secret, "bench", ("publish",), ttl_s=3600)
            yield Endpoint(name, target.port, target.pids, "/api/v1/executions/", "/events", PUBLISH_BODY, token)
    elif name == "aiohttp-floor":
        port = free_port()
        app = log_dir / "floor_app.py"
        app.write_text(MINIMAL_APP)
        with Executor([sys.executable, str(app), str(port)], log=log_dir / "floor.log",
                      ready=TcpPort(port), name="aiohttp floor", ready_timeout_s=20) as proc:
            yield Endpoint(name, port, (proc.pid,), "/api/v1/executions/", "/events", PUBLISH_BODY)
    else:
        with nchan_server(log_dir) as target:
            frame = {"type": "diagnosis_update", "execution_id": "e-0", "seq": 1, "timestamp": "2026-01-01T00:00:00.000Z",
                     "event": "progress", "data": DATA}
            yield Endpoint(name, target.port, target.pids, "/pub?id=", "", json.dumps(frame, separators=(",", ":")))


def table(results: list[Result]) -> Table:
    by_server: dict[str, list[Result]] = {}
    for r in results:
        by_server.setdefault(r.server, []).append(r)

    def median(server: str, attr: str) -> float | None:
        runs = by_server.get(server)
        return statistics.median(getattr(r, attr) for r in runs) if runs else None

    nchan_us, floor_us = median("nchan", "us_per_request"), median("aiohttp-floor", "us_per_request")
    out = Table(title="One HTTP publish: server CPU per request (median of runs)")
    for column in ("server", "req/s", "server %core", "µs CPU/req", "x Nchan", "floor share", "non-2xx", "runs"):
        out.add_column(column, justify="left" if column == "server" else "right")
    for server, runs in by_server.items():
        us = median(server, "us_per_request") or 0.0
        out.add_row(
            server, f"{median(server, 'per_s'):,.0f}", f"{median(server, 'core_percent'):.0f}", f"{us:.1f}",
            f"{us / nchan_us:.2f}" if nchan_us else "-",
            f"{floor_us / us:.0%}" if floor_us and server == "diagops" else "-",
            str(sum(r.non_2xx for r in runs)), str(len(runs)),
        )
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not os.access(WRK, os.X_OK):
        print(f"{WRK} not found (apt-get install wrk)", file=sys.stderr)
        return 3
    servers = ["diagops", "aiohttp-floor"]
    if not args.skip_nchan:
        missing = nchan_missing()
        if missing:
            print(f"nchan: {missing} (or --skip-nchan)", file=sys.stderr)
            return 3
        servers.append("nchan")
    console = Console(stderr=args.json == "-")
    results: list[Result] = []
    log_dir = Path(tempfile.mkdtemp(prefix="http-floor-"))
    try:
        script = log_dir / "publish.lua"
        script.write_text(WRK_SCRIPT)
        for round_ in range(args.repeat):
            order = servers if round_ % 2 == 0 else servers[::-1]  # alternate who goes first
            for name in order:
                with console.status(f"{name}: wrk {args.connections} connections, {args.seconds:.0f} s"):
                    with endpoints(name, log_dir) as endpoint:
                        results.append(measure(endpoint, args, script))
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
    console.print(table(results))
    if args.json:
        rows = [{**asdict(r), "per_s": r.per_s, "us_per_request": r.us_per_request, "core_percent": r.core_percent}
                for r in results]
        text = json.dumps({"schema": 1, "runs": rows}, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
