"""What every client process does first, and how it and the parent talk over their pipe.

Client processes are started with `spawn`; each raises its open-files limit,
runs on uvloop when it is installed, and obeys commands the parent sends as
tuples (`("open", ...)`, `("close",)`); the parent waits for each answer with a
timeout, so a client that died is an error, not a hang.
"""

from __future__ import annotations

import asyncio
import resource
import threading
from typing import Any


def raise_nofile(wanted: int | None = None) -> tuple[int, int]:
    """Raise this process's soft open-files limit to the hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if wanted is None or hard == resource.RLIM_INFINITY else min(max(wanted, soft), hard)
    if target != resource.RLIM_INFINITY and target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def use_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass


async def command_queue(pipe: Any) -> asyncio.Queue[Any]:
    """Commands from the parent, read by a thread (watching the pipe from the loop would make its
    socket non-blocking, and a large report would then fail to send)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def read() -> None:
        while True:
            try:
                item = pipe.recv()
            except (EOFError, OSError):
                item = ("close",)
            loop.call_soon_threadsafe(queue.put_nowait, item)
            if item[0] in ("close", "exit"):
                return

    threading.Thread(target=read, name="commands", daemon=True).start()
    return queue


def recv(pipe: Any, timeout: float, what: str) -> Any:
    if not pipe.poll(timeout):
        raise TimeoutError(f"no answer from the {what} within {timeout:.0f} s")
    return pipe.recv()
