"""A throwaway `redis-server` on a free loopback port, in its own directory, with an append-only file.

The Redis tests and the benchmarks start theirs here, so neither touches a
Redis someone else uses. Ready once Redis logs that it accepts connections,
which it does only after loading its append-only file (a restart on the same
directory answers with every write it acknowledged before).
"""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

from diagops.procs.executor import Executor
from diagops.procs.ports import free_port
from diagops.procs.readiness import LogLine

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
READY_LINE = r"Ready to accept connections"


class RedisServer:
    """One redis-server. `appendfsync`: "always" keeps every acknowledged write through a SIGKILL
    (what the fault tests rely on); "everysec" is what diagops recommends for production."""

    def __init__(self, workdir: Path, port: int | None = None, *, appendfsync: str = "always",
                 binary: str = REDIS_SERVER, options: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.appendfsync = appendfsync
        self.binary = binary
        self.options = options  # more redis-server arguments, e.g. ("--maxmemory-policy", "allkeys-lru")
        self.executor: Executor | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.workdir / "redis.log"

    @property
    def pid(self) -> int:
        assert self.executor is not None, "redis-server has not been started"
        return self.executor.pid

    def argv(self) -> list[str]:
        # No --logfile: Redis logs to stdout, which the executor writes to redis.log.
        return [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
                "--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", "", "--daemonize", "no",
                *self.options]

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.executor = Executor(self.argv(), log=self.log_path, ready=LogLine(READY_LINE), name="redis-server",
                                 ready_timeout_s=timeout_s)
        self.executor.start()
        return self

    def stop(self) -> None:
        """SIGTERM: a clean shutdown (SIGKILL if it hangs)."""
        if self.executor is not None:
            self.executor.stop()

    def kill(self) -> None:
        """SIGKILL: the crash case (no shutdown save, clients see the connection drop); also ends a
        paused server."""
        if self.executor is not None:
            self.executor.kill()
        self.executor = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: Redis hangs with its sockets open, the case only timeouts catch."""
        assert self.executor is not None
        self.executor.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.executor is not None
        self.executor.send_signal(signal.SIGCONT)
