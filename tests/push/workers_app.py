"""A stand-in service for run_workers tests: `python workers_app.py PORT MODE [MIN_UPTIME_S]`.

Each worker binds PORT with SO_REUSEPORT and answers every connection with its
pid. MODE: `serve` (stops on SIGTERM), `fail` (raises before binding),
`stubborn` (ignores SIGTERM, so only the supervisor's SIGKILL ends it), `silent`
(serves but never calls notify_ready, so only MIN_UPTIME_S makes it count as started).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from diagops.push.workers import notify_ready, run_workers


def serve(port: int, mode: str) -> None:
    if mode == "fail":
        raise RuntimeError("cannot reach the store")
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    async def main() -> None:
        stop = asyncio.Event()
        if mode in ("serve", "silent"):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(f"{os.getpid()}\n".encode())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", port, reuse_port=True)
        if mode != "silent":
            notify_ready()
        async with server:
            await stop.wait()

    asyncio.run(main())


if __name__ == "__main__":
    port, mode = int(sys.argv[1]), sys.argv[2]
    min_uptime = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    sys.exit(run_workers(2, lambda: serve(port, mode), grace_s=1.0, min_uptime_s=min_uptime))
