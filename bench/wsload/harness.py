"""The client processes of one run: a publisher and N subscriber processes, driven over pipes."""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass, field
from typing import Any

from diagops.bench.wsload.child import recv
from diagops.bench.wsload.publisher import publisher_main
from diagops.bench.wsload.subscriber import subscriber_main
from diagops.bench.wsload.target import Target


@dataclass
class Clients:
    """The client processes of one run (publisher + subscribers)."""

    target: Target
    subscriber_procs: int
    pool_size: int = 32
    procs: list[Any] = field(default_factory=list)
    sub_pipes: list[Any] = field(default_factory=list)
    pub_pipe: Any = None

    def start(self, with_publisher: bool = True) -> None:
        ctx = mp.get_context("spawn")
        if with_publisher:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=publisher_main, args=(child, self.target, self.pool_size), daemon=True,
                               name="bench-publisher")
            proc.start()
            self.procs.append(proc)
            self.pub_pipe = parent
        for k in range(self.subscriber_procs):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=subscriber_main, args=(child, self.target), daemon=True, name=f"bench-sub-{k}")
            proc.start()
            self.procs.append(proc)
            self.sub_pipes.append(parent)

    @property
    def publisher_pid(self) -> int | None:
        return self.procs[0].pid if self.pub_pipe is not None else None

    @property
    def subscriber_pids(self) -> list[int]:
        return [p.pid for p in self.procs[1 if self.pub_pipe is not None else 0:]]

    def create_executions(self, execution_ids: list[str], pad: str, timeout_s: float) -> None:
        """Have the publisher create the executions (diagops: a first event naming the owner, which
        subscribing needs); RuntimeError if any creation failed."""
        self.pub_pipe.send(("setup", execution_ids, pad))
        setup = recv(self.pub_pipe, timeout_s, "publisher")
        if setup["errors"]:
            raise RuntimeError(f"creating {len(execution_ids)} executions failed {setup['errors']} times")

    def open(self, execution_ids: list[str], concurrency: int = 100, timeout: float = 30.0) -> dict[str, Any]:
        """Open one subscribed socket per id, spread round-robin over the subscriber processes."""
        shares = [execution_ids[k::len(self.sub_pipes)] for k in range(len(self.sub_pipes))]
        per_proc = max(1, concurrency // len(self.sub_pipes))
        for pipe, share in zip(self.sub_pipes, shares):
            pipe.send(("open", share, per_proc, timeout))
        results = [recv(pipe, timeout * 4 + 60, "subscriber process") for pipe in self.sub_pipes]
        failed: dict[str, int] = {}
        for r in results:
            for reason, n in r["failed"].items():
                failed[reason] = failed.get(reason, 0) + n
        return {"opened": sum(r["opened"] for r in results), "failed": failed,
                "seconds": round(max(r["seconds"] for r in results), 3)}

    def stop(self) -> None:
        for pipe in self.sub_pipes:
            try:
                pipe.send(("close",))
            except (OSError, BrokenPipeError):
                pass
        for pipe in self.sub_pipes:
            try:
                recv(pipe, 10, "subscriber process")
            except (TimeoutError, EOFError, OSError):
                pass
        if self.pub_pipe is not None:
            try:
                self.pub_pipe.send(("exit",))
                recv(self.pub_pipe, 10, "publisher process")
            except (TimeoutError, EOFError, OSError):
                pass
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
