"""Locust's child processes, with an outer bound: SIGTERM at the deadline, SIGKILL if that is ignored.

Locust sometimes does not exit at `-t` (about one run in twenty), so every
child started here lives in its own process group and is ended by `stop()`
whatever state it is in. Used for the Locust master, local runner and workers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from diagops.procs.executor import Executor


class Child(Executor):
    """One Locust process, started at once, its output in `log`, its group signalled as a whole."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> None:
        super().__init__(argv, log=log, env=env, name=name, new_session=True)
        self.start()

