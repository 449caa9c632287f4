"""How long CPython's full collections pause a process holding a full memory store.

    .venv/bin/python -m benchmarks.gc_store --budget-mib 256 --events 1400000 --freeze

Fills the memory store's private structure (`_Executions`, no server, no sockets) as the soak
does: 1,000 running executions of 20 events each (~300-byte frames), one after another, past the
budget so eviction runs; times every collection of the second half with `gc.callbacks` and every
`make_room` (the eviction batches), and prints the GC-tracked objects left and what they are.
`--freeze` calls `gc.freeze()` first, as `diagops serve` does after start-up. A benchmark with
numbers in its output, not a test: see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the service importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from diagops.push.store.memory import _Executions  # noqa: E402

MIB = 1024 * 1024


def fill(ex: _Executions, events: int, sockets: int = 1000, per_execution: int = 20, on_half: Any = None) -> None:
    pad = "x" * 70  # the soak's --event-bytes 300 frame
    k, j = [0] * sockets, [1] * sockets
    for n in range(events):
        if n == events // 2 and on_half is not None:
            on_half()
        s = n % sockets
        eid = f"soak-{s}-{k[s]}"
        if j[s] == per_execution:
            ex.append(eid, "complete", {"report": {"summary": pad}}, None, None)
            k[s], j[s] = k[s] + 1, 1
            continue
        ex.append(eid, "progress", {"progress": j[s] * 100 // per_execution, "status_text": pad},
                  "owner" if j[s] == 1 else None, None)
        j[s] += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gc_store", description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget-mib", type=float, default=256.0)
    ap.add_argument("--events", type=int, default=1_400_000, help="events appended (enough to pass the budget)")
    ap.add_argument("--freeze", action="store_true", help="gc.freeze() before filling, as serve does")
    args = ap.parse_args(argv)
    if args.events < 2 or args.budget_mib <= 0:
        ap.error("--events must be >= 2 and --budget-mib > 0")
    ex = _Executions(24 * 3600.0, 1000, max_bytes=int(args.budget_mib * MIB))
    if args.freeze:
        gc.freeze()
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    rooms: list[float] = []
    started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - started[0])

    make_room = ex.make_room

    def timed_make_room(size: int, *, keep: str) -> bool:
        t = time.perf_counter()
        try:
            return make_room(size, keep=keep)
        finally:
            rooms.append(time.perf_counter() - t)

    ex.make_room = timed_make_room  # type: ignore[method-assign]
    fill(ex, args.events, on_half=lambda: gc.callbacks.append(on_gc))
    gc.callbacks.remove(on_gc)
    print(f"{args.events:,} events, store {ex.total_bytes / MIB:.1f} MiB of {args.budget_mib:g}, "
          f"{len(ex.snapshots):,} executions held, freeze={args.freeze}")
    for g, times in pauses.items():
        if times:
            print(f"generation {g}: {len(times):5d} collections, mean {sum(times) / len(times) * 1000:6.1f} ms, "
                  f"max {max(times) * 1000:6.1f} ms")
    if rooms:
        print(f"make_room: {len(rooms)} calls, mean {sum(rooms) / len(rooms) * 1000:.2f} ms, max {max(rooms) * 1000:.1f} ms")
    tracked = gc.get_objects()
    kinds = Counter(type(o).__name__ for o in tracked).most_common(4)
    print(f"GC-tracked objects: {len(tracked):,} ({', '.join(f'{n} {c:,}' for n, c in kinds)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
