"""What keeps the cyclic collector's pauses short: the memory store's events are untracked
tuples, replayed as the very updates that were stored, and every collection is timed."""

from __future__ import annotations

import gc

from diagops.push.gc_pauses import GcPauses
from diagops.push.metrics import Metrics
from diagops.push.store.memory import _Executions, held_bytes


def fill(ex: _Executions, eid: str, n: int) -> list:
    updates = [ex.append(eid, "progress", {"progress": k, "status_text": "s"}, "u" if k == 0 else None, None)
               for k in range(n)]
    return updates + [ex.append(eid, "complete", {"report": {"summary": "done"}}, None, None)]


def test_stored_events_cost_the_collector_nothing_once_seen():
    ex = _Executions(retention_s=3600, max_events=1000)
    fill(ex, "e", 50)
    gc.collect()  # a collection is where CPython untracks tuples of atomic values
    assert ex.events["e"] and not any(gc.is_tracked(kept) for kept in ex.events["e"])


def test_replay_gives_back_exactly_the_updates_stored_and_the_budget_counts_them():
    ex = _Executions(retention_s=3600, max_events=1000)
    stored = fill(ex, "e", 5) + fill(ex, "f", 3)
    replayed = ex.after("e", 0) + ex.after("f", 0)
    assert replayed == stored  # every field: seq, event, text, bytes, nbytes, accepted_at, epoch
    assert [u.seq for u in ex.after("e", 4)] == [5, 6]
    assert ex.total_bytes == sum(map(held_bytes, stored)) + sum(ex.snapshot_bytes.values())


def test_each_collection_is_timed_by_generation_until_stopped():
    metrics = Metrics()
    pauses = GcPauses(metrics.gc_pause)

    def full_collections() -> float:
        return metrics.registry.get_sample_value("diagops_gc_pause_seconds_count", {"generation": "2"})

    pauses.start()
    pauses.start()  # idempotent: one callback, one observation per collection
    gc.collect()
    assert full_collections() == 1
    pauses.stop()
    gc.collect()
    assert full_collections() == 1
