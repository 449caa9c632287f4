"""Time CPython's garbage collections, so a latency spike can be told apart from a GC pause.

The cyclic collector stops the event loop while it runs, for as long as it takes to scan the
generation it collects: every GC-tracked object (instances, lists, dicts holding containers)
that survived long enough to be there. A full (generation 2) collection in a service holding
hundreds of thousands of such objects pauses every socket at once, for tens of milliseconds or
more, and nothing else in `/metrics` shows it: delivery latency rises with no load to explain it.
`diagops_gc_pause_seconds{generation}` is that explanation, measured rather than inferred. The
cost is two `gc.callbacks` calls per collection (a few µs; young collections run tens of times
a second at most under load), so it is always on rather than a debug switch.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Histogram


class GcPauses:
    """Observes each collection's duration into `histogram` (label: the generation) between
    `start()` and `stop()`; one instance per app, so tests building many apps never stack
    callbacks."""

    def __init__(self, histogram: Histogram) -> None:
        self._children = [histogram.labels(str(g)) for g in range(3)]
        self._started_at = 0.0

    def start(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def stop(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started_at = time.perf_counter()
        else:
            self._children[info["generation"]].observe(time.perf_counter() - self._started_at)
