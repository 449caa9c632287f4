"""`diagops serve --workers N`: N service processes sharing one port, under one supervisor.

Why SO_REUSEPORT rather than one listening socket inherited by every worker:
each worker binds its own socket (`reuse_port=True`) and the kernel spreads
new connections evenly over them, instead of letting whichever worker wakes
first take the accept (the uneven "thundering herd" of a shared socket). The
workers share nothing in memory, so they need a shared store (Redis); the CLI
refuses `--workers` above 1 without one.

The supervisor (this process) serves nothing itself. It:
- forks the workers (fork, not spawn: `serve_one` may be any callable, such
  as a closure over the loaded spec, and starts in milliseconds);
- forwards SIGTERM/SIGINT to every worker, waits `grace_s` for them to close
  their clients with 1001, then SIGKILLs what is left;
- replaces a worker that dies after it started serving (its clients
  reconnect with `last_seq` to the survivors or to the replacement and miss
  nothing: every event is in Redis); a worker that dies before means the
  configuration is wrong (port taken, Redis unreachable), so everything stops
  and its exit status is returned instead of restarting in a loop. A worker
  has started when it calls `notify_ready()` (sd_notify's READY=1, through a
  pipe), or, if it never does, once it has run `min_uptime_s`.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

log = logging.getLogger("diagops.workers")

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_PR_SET_PDEATHSIG = 1
_ready_fd: int | None = None  # in a worker: where notify_ready() writes


def notify_ready() -> None:
    """Tell the supervisor this worker is serving; a no-op outside a worker, and after the first call."""
    global _ready_fd
    fd, _ready_fd = _ready_fd, None
    if fd is None:
        return
    try:
        os.write(fd, b"R")
    except OSError:
        pass
    finally:
        os.close(fd)


def run_workers(n: int, serve_one: Callable[[], None], *, grace_s: float = 10.0, min_uptime_s: float = 5.0,
                on_exit: Callable[[int], None] | None = None) -> int:
    """Run `serve_one` in `n` forked processes until SIGTERM/SIGINT; returns an exit status.

    `serve_one` must bind its port with SO_REUSEPORT, should call
    `notify_ready()` once it serves, and must return when it gets SIGTERM or
    SIGINT. The status is 0 when every worker stopped cleanly on request, else
    the first failing worker's code (128+signal when killed). `on_exit(pid)` runs
    for each worker that ends (the metrics drop its live gauges). Call it from the
    main thread of a process with no event loop running.
    """
    if n < 1:
        raise ValueError(f"workers must be at least 1, got {n}")
    supervisor = _Supervisor(n, serve_one, grace_s=grace_s, min_uptime_s=min_uptime_s, on_exit=on_exit)
    return supervisor.run()


class _Worker:
    __slots__ = ("slot", "process", "spawned", "ready_fd", "ready")

    def __init__(self, slot: int, process: BaseProcess, spawned: float, ready_fd: int) -> None:
        self.slot = slot
        self.process = process
        self.spawned = spawned
        self.ready_fd: int | None = ready_fd
        self.ready = False

    def close_ready_fd(self) -> None:
        if self.ready_fd is not None:
            os.close(self.ready_fd)
            self.ready_fd = None


class _Supervisor:
    def __init__(self, n: int, serve_one: Callable[[], None], *, grace_s: float, min_uptime_s: float,
                 on_exit: Callable[[int], None] | None = None) -> None:
        self.n = n
        self.on_exit = on_exit
        self.serve_one = serve_one
        self.grace_s = grace_s
        self.min_uptime_s = min_uptime_s
        self.context = multiprocessing.get_context("fork")
        self.workers: dict[int, _Worker] = {}
        self.wake_r, self.wake_w = os.pipe()

    def run(self) -> int:
        os.set_blocking(self.wake_w, False)
        previous = {sig: signal.signal(sig, _note_signal) for sig in _STOP_SIGNALS}
        previous_wakeup = signal.set_wakeup_fd(self.wake_w)
        try:
            for slot in range(self.n):
                self._spawn(slot)
            status = self._supervise()
        finally:
            status_on_stop = self._stop_all()
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(self.wake_r)
            os.close(self.wake_w)
        return status if status else status_on_stop

    def _spawn(self, slot: int) -> None:
        ready_r, ready_w = os.pipe()
        process = self.context.Process(
            target=_worker_main, args=(slot, self.serve_one, (self.wake_r, self.wake_w, ready_r), ready_w),
            name=f"diagops-worker-{slot}", daemon=False,
        )
        process.start()
        os.close(ready_w)
        self.workers[slot] = _Worker(slot, process, time.monotonic(), ready_r)
        log.info("worker %d forked (pid %d)", slot, process.pid)

    def _supervise(self) -> int:
        """Wait for a stop signal (returns 0) or a worker that failed to start (returns its status)."""
        while True:
            sentinels = {w.process.sentinel: w for w in self.workers.values()}
            notices = {w.ready_fd: w for w in self.workers.values() if w.ready_fd is not None}
            ready = wait([self.wake_r, *sentinels, *notices], timeout=self._next_uptime_check())
            if self.wake_r in ready:
                received = os.read(self.wake_r, 64)
                if any(sig in received for sig in _STOP_SIGNALS):
                    log.info("stopping %d workers", len(self.workers))
                    return 0
            for fd in ready:
                if fd in notices:
                    worker = notices[fd]  # type: ignore[index]
                    if os.read(fd, 1):  # b"" is EOF: the worker died without notifying
                        self._mark_ready(worker)
                    worker.close_ready_fd()
            for worker in list(self.workers.values()):
                if not worker.ready and time.monotonic() - worker.spawned >= self.min_uptime_s:
                    self._mark_ready(worker)
            for sentinel in ready:
                worker = sentinels.get(sentinel)  # type: ignore[call-overload]
                if worker is None:
                    continue
                worker.process.join()
                worker.close_ready_fd()
                self._exited(worker)
                status = _status(worker.process.exitcode)
                uptime = time.monotonic() - worker.spawned
                if not worker.ready:
                    log.error("worker %d (pid %d) exited with status %d before serving; stopping all workers",
                              worker.slot, worker.process.pid, status)
                    del self.workers[worker.slot]
                    return status or 1
                log.warning("worker %d (pid %d) exited with status %d after %.1f s; starting a replacement",
                            worker.slot, worker.process.pid, status, uptime)
                self._spawn(worker.slot)

    def _mark_ready(self, worker: _Worker) -> None:
        if worker.ready:
            return
        worker.ready = True
        if all(w.ready for w in self.workers.values()):
            log.info("%d workers serving", len(self.workers))

    def _next_uptime_check(self) -> float | None:
        """Seconds until a worker that has not notified counts as started by its uptime."""
        waiting = [w.spawned + self.min_uptime_s for w in self.workers.values() if not w.ready]
        return max(0.0, min(waiting) - time.monotonic()) if waiting else None

    def _stop_all(self) -> int:
        """SIGTERM every worker, SIGKILL those still running after the grace period; worst status."""
        alive = [w for w in self.workers.values() if w.process.is_alive()]
        for worker in alive:
            _signal(worker.process, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        for worker in alive:
            worker.process.join(max(0.0, deadline - time.monotonic()))
        status = 0
        for worker in self.workers.values():
            if worker.process.is_alive():
                log.warning("worker %d (pid %d) ignored SIGTERM for %.0f s; killing it",
                            worker.slot, worker.process.pid, self.grace_s)
                _signal(worker.process, signal.SIGKILL)
                worker.process.join()
                status = status or 128 + signal.SIGKILL
                continue
            code = worker.process.exitcode
            if code not in (0, -signal.SIGTERM, -signal.SIGINT):
                status = status or _status(code)
        for worker in self.workers.values():
            worker.close_ready_fd()
            self._exited(worker)
        self.workers.clear()
        return status

    def _exited(self, worker: _Worker) -> None:
        if self.on_exit is not None and worker.process.pid is not None:
            self.on_exit(worker.process.pid)


def _note_signal(signum: int, frame: object) -> None:
    """Does nothing: the wakeup fd carries the signal number to the supervisor's wait()."""


def _signal(process: BaseProcess, sig: int) -> None:
    try:
        os.kill(process.pid, sig)  # type: ignore[arg-type]
    except ProcessLookupError:
        pass


def _status(exitcode: int | None) -> int:
    if exitcode is None:
        return 1
    return 128 - exitcode if exitcode < 0 else exitcode


def _worker_main(slot: int, serve_one: Callable[[], None], supervisor_fds: tuple[int, ...], ready_w: int) -> None:
    """Runs in the forked child: undo the supervisor's signal plumbing, then serve."""
    global _ready_fd
    signal.set_wakeup_fd(-1)
    for fd in supervisor_fds:
        os.close(fd)
    _ready_fd = ready_w
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    _die_with_parent()
    try:
        serve_one()
    except KeyboardInterrupt:
        sys.exit(0)
    except SystemExit:
        raise
    except BaseException as exc:
        log.error("worker %d failed: %s: %s", slot, type(exc).__name__, exc,
                  exc_info=os.environ.get("DIAGOPS_DEBUG", "") not in ("", "0"))
        sys.exit(1)


def _die_with_parent() -> None:
    """Linux: SIGTERM this worker if the supervisor dies, so no orphan keeps the port."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the supervisor died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
