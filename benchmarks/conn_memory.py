"""What a WebSocket connection leaves behind in the server once it has closed.

    .venv/bin/python -m benchmarks.conn_memory --sockets 5000 --rounds 2

Runs the service (the app `diagops serve` builds, on uvloop when installed, memory store,
127.0.0.1, a free port) in a child process that also answers questions about itself over a
pipe: RSS, Python's allocated blocks, the live objects of the connection path (Connection,
WebSocketResponse, hub subscriptions, request handlers) and the per-connection registries (open
connections, hub, rate-limit buckets). The parent opens N subscribed sockets, closes them all,
and asks again; then glibc's `malloc_trim(0)` is called in the child to see how much of what
stays is memory the allocator kept rather than memory still in use. Repeated for `--rounds`,
so a leak (growth every round) is told apart from reuse (the same peak each round).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchmarks` and the service importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MIB = 1024 * 1024
SECRET = "conn-memory-bench-secret-0123456789"
WATCHED_TYPES = ("Connection", "WebSocketResponse", "Subscription", "RequestHandler", "Outbox", "Claims")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096  # resident pages


def _report(app: Any) -> dict[str, Any]:
    from diagops.push import keys

    gc.collect()
    counts = dict.fromkeys(WATCHED_TYPES, 0)
    for obj in gc.get_objects():
        name = type(obj).__name__
        if name in counts:
            counts[name] += 1
    hub = app[keys.HUB]
    return {
        "rss_mib": round(_rss_bytes() / MIB, 1),
        "python_blocks": sys.getallocatedblocks(),
        "pymalloc_arena_mib": round(_pymalloc_arenas()[1] / MIB, 1),
        "objects": counts,
        "open_connections": len(app[keys.CONNECTIONS]),
        "hub_subscribers": len(hub._by_subscriber),
        "rate_buckets": len(app[keys.RATE]._buckets),
    }


def _pymalloc_arenas() -> tuple[int, int]:
    """(arenas held, bytes in them) from sys._debugmallocstats, which only writes to fd 2."""
    import os
    import re
    import tempfile

    with tempfile.TemporaryFile(mode="w+") as out:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read()
    arenas = re.search(r"# arenas allocated current\s*=\s*([\d,]+)", text)
    size = re.search(r"(\d[\d,]*) arenas \* (\d[\d,]*) bytes/arena", text)
    n = int(arenas.group(1).replace(",", "")) if arenas else 0
    per = int(size.group(2).replace(",", "")) if size else 0
    return n, n * per


def _trim() -> bool:
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


def serve_child(pipe: Any, port_out: Any) -> None:
    """The service, plus a control loop on `pipe`: 'report', 'trim', 'stop'."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve_child(pipe, port_out))


async def _serve_child(pipe: Any, port_out: Any) -> None:
    from aiohttp import web

    from diagops.push import keys
    from diagops.push.app import create_app
    from diagops.push.http_protocol import ContractRunner
    from diagops.spec import load_spec

    spec = load_spec(Path("/dev/null"), env={}, overrides={
        "limits.connection_rate": 1e6, "limits.connection_burst": 1_000_000, "limits.max_connections": 100_000,
    })
    app = create_app(spec, secret=SECRET)
    runner = ContractRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port_out.send(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    await app[keys.PUBLISHER].publish("mem-0", "progress", {"progress": 0}, owner="bench")
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command == "report":
            pipe.send(_report(app))
        elif command == "trim":
            pipe.send(_trim())
        else:
            break
    await runner.cleanup()


async def open_sockets(port: int, n: int) -> list[Any]:
    import aiohttp

    from diagops.push.auth import mint_token

    token = mint_token(SECRET, "bench", ("subscribe",), ttl_s=3600)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    gate = asyncio.Semaphore(200)

    async def one() -> Any:
        async with gate:
            ws = await session.ws_connect(f"ws://127.0.0.1:{port}/ws", headers={"Authorization": f"Bearer {token}"},
                                          heartbeat=None)
            await ws.send_str(json.dumps({"type": "subscribe", "execution_id": "mem-0"}))
            await ws.receive()  # subscribed
            await ws.receive()  # the replayed event
            return ws

    sockets = await asyncio.gather(*(one() for _ in range(n)))
    return [session, *sockets]


async def close_sockets(opened: list[Any]) -> None:
    session, sockets = opened[0], opened[1:]
    await asyncio.gather(*(ws.close() for ws in sockets))
    await session.close()


def ask(pipe: Any, command: str) -> Any:
    pipe.send(command)
    if not pipe.poll(120):
        raise RuntimeError(f"the service did not answer {command!r}")
    return pipe.recv()


def until_closed(pipe: Any, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        report = ask(pipe, "report")
        if report["open_connections"] == 0 and report["hub_subscribers"] == 0 or time.monotonic() > deadline:
            return report
        time.sleep(0.2)


def measure(n: int, rounds: int) -> dict[str, Any]:
    from diagops.bench.wsload import raise_nofile

    raise_nofile(n + 1000)
    ctx = mp.get_context("spawn")
    pipe, child_pipe = ctx.Pipe()
    port_in, port_out = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=serve_child, args=(child_pipe, port_out), daemon=True, name="conn-memory-service")
    proc.start()
    try:
        if not port_in.poll(60):
            raise RuntimeError("the service did not start")
        port = port_in.recv()
        steps: list[dict[str, Any]] = [{"step": "started", **ask(pipe, "report")}]
        for r in range(1, rounds + 1):
            opened = asyncio.run(_open_and_report(port, n, pipe, steps, r))
            del opened
            steps.append({"step": f"round {r}: all closed", **until_closed(pipe)})
        trimmed = ask(pipe, "trim")
        steps.append({"step": f"after malloc_trim(0) ({'released' if trimmed else 'nothing released'})",
                      **ask(pipe, "report")})
        return {"sockets": n, "rounds": rounds, "steps": steps}
    finally:
        pipe.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.kill()


async def _open_and_report(port: int, n: int, pipe: Any, steps: list[dict[str, Any]], r: int) -> None:
    opened = await open_sockets(port, n)
    steps.append({"step": f"round {r}: {n} open", **await asyncio.get_running_loop().run_in_executor(None, ask, pipe, "report")})
    await close_sockets(opened)


def table(result: dict[str, Any]) -> str:
    n, base = result["sockets"], result["steps"][0]
    lines = [f"{'step':<44} {'RSS MiB':>8} {'Δ KiB/socket':>13} {'py blocks':>10} {'arenas MiB':>10}  "
             "live objects / registries"]
    for s in result["steps"]:
        per = (s["rss_mib"] - base["rss_mib"]) * 1024 / n
        objects = ", ".join(f"{k} {v}" for k, v in s["objects"].items() if v)
        lines.append(f"{s['step']:<44} {s['rss_mib']:>8.1f} {per:>13.1f} {s['python_blocks']:>10} "
                     f"{s['pymalloc_arena_mib']:>10.1f}  "
                     f"{objects or 'none'}; open {s['open_connections']}, hub {s['hub_subscribers']}, "
                     f"rate buckets {s['rate_buckets']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.conn_memory", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sockets", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", dest="json_path")
    args = ap.parse_args(argv)
    result = measure(args.sockets, args.rounds)
    print(table(result))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
