"""The memory store's byte budget on its private structure: what is evicted, in which order,
what is never evicted, and when a new execution is refused."""

from __future__ import annotations

import pytest

from diagops.push.store.base import StoreFull
from diagops.push.store.memory import _Executions, held_bytes

BUDGET = 64 * 1024
PADDING = "x" * 400  # a status text that makes each event ~1 KiB held


def executions(**kw) -> tuple[_Executions, list[tuple[str, int]]]:
    ex = _Executions(retention_s=3600, max_events=1000, max_bytes=BUDGET, **kw)
    evictions: list[tuple[str, int]] = []
    ex.on_eviction = lambda reason, count: evictions.append((reason, count))
    return ex, evictions


def run(ex: _Executions, eid: str, n: int, *, finish: bool = False) -> None:
    for _ in range(n):
        owner = None if eid in ex.snapshots else "u"
        ex.append(eid, "progress", {"progress": 0, "status_text": PADDING}, owner, None)
    if finish:
        ex.append(eid, "complete", {"report": {"summary": PADDING}}, None, None)


def recount(ex: _Executions) -> int:
    """The budget's count from scratch: every stored event plus every snapshot."""
    return sum(held_bytes(u) for eid in ex.events for u in ex.after(eid, 0)) + sum(ex.snapshot_bytes.values())


def test_finished_executions_are_evicted_oldest_first_and_running_ones_kept():
    ex, evictions = executions()
    run(ex, "running", 3)
    for i in range(60):
        run(ex, f"done-{i}", 2, finish=True)
    assert ex.total_bytes <= BUDGET and ex.total_bytes == recount(ex)
    kept = [eid for eid in ex.snapshots if eid.startswith("done-")]
    assert kept == [f"done-{i}" for i in range(60 - len(kept), 60)]  # the newest survive, in order
    assert "done-0" not in ex.snapshots and ex.after("done-0", 0) == []
    assert [u.seq for u in ex.after("running", 0)] == [1, 2, 3]  # finished ones went first
    assert evictions and {reason for reason, _ in evictions} == {"finished"}
    assert sum(count for _, count in evictions) == 3 * (60 - len(kept))


def test_a_finished_execution_still_being_sent_is_not_evicted():
    ex, _ = executions()
    ex.delivery_floor = lambda eid: 1 if eid == "done-0" else None
    for i in range(60):
        run(ex, f"done-{i}", 2, finish=True)
    assert "done-0" in ex.snapshots and [u.seq for u in ex.after("done-0", 0)] == [1, 2, 3]
    assert "done-1" not in ex.snapshots


def test_running_executions_idle_longest_lose_their_delivered_events_first():
    ex, evictions = executions()
    run(ex, "idle", 20)
    run(ex, "busy", 20)
    run(ex, "busy", 30)  # over the budget: `idle` has been silent longest
    assert ex.trimmed["idle"] == 20 and ex.after("idle", 0) == [] and ex.snapshots["idle"].seq == 20
    assert ex.total_bytes <= BUDGET and ex.total_bytes == recount(ex)
    assert ("idle", 20) in evictions
    run(ex, "idle", 1)  # the stream goes on after a trim, seq unbroken
    assert [u.seq for u in ex.after("idle", 0)] == [21] and ex.after("idle", 20)[0].seq == 21


def test_an_event_a_subscriber_has_not_been_sent_is_never_trimmed():
    ex, _ = executions()
    ex.delivery_floor = lambda eid: 5 if eid == "watched" else None
    run(ex, "watched", 30)
    for i in range(20):  # 20 snapshots and 25 protected events: just within the budget
        run(ex, f"other-{i}", 2)
    assert ex.trimmed.get("watched") == 5
    assert [u.seq for u in ex.after("watched", 5)] == list(range(6, 31))


def test_with_only_undelivered_streams_left_a_new_execution_is_refused_and_old_ones_go_on():
    ex, evictions = executions()
    ex.delivery_floor = lambda eid: 0  # every execution has a subscriber that has been sent nothing
    i = 0
    with pytest.raises(StoreFull):
        while i < 1000:
            run(ex, f"live-{i}", 4)
            i += 1
    assert f"live-{i}" not in ex.snapshots and ex.events.get(f"live-{i}") is None  # nothing stored
    assert ("refused", 1) in evictions
    before = ex.total_bytes
    run(ex, "live-0", 1)  # a running stream is never refused: it would break
    assert ex.snapshots["live-0"].seq == 5 and ex.total_bytes > before
    assert [u.seq for u in ex.after("live-0", 0)] == [1, 2, 3, 4, 5]


def test_expiry_keeps_the_byte_count_true():
    ex, _ = executions()
    run(ex, "done", 3, finish=True)
    run(ex, "running", 2)
    ex.finished_at["done"] -= 7200
    assert ex.expire(ex.finished_at["running"] if "running" in ex.finished_at else ex.last_event_at["running"]) == 1
    assert ex.total_bytes == recount(ex) > 0
