"""The stream rules a client applies: live or replayed, gaps, duplicates, events after the final one."""

from __future__ import annotations

import random

import pytest

from diagops.loadtests.tracker import StreamTracker, event_epoch
from diagops.push.protocol import parse_timestamp, utc_timestamp


def feed(tracker: StreamTracker, *events: tuple[int, str]) -> list:
    return [tracker.on_update(seq, event, 100.0, 100.25) for seq, event in events]


def test_events_up_to_the_subscribed_seq_are_replays_and_later_ones_live() -> None:
    tracker = StreamTracker("e-1", 99.0)
    tracker.on_subscribed(2)
    kinds = [d.kind for d in feed(tracker, (1, "progress"), (2, "progress"), (3, "progress"), (4, "complete"))]
    assert kinds == ["replay", "replay", "progress", "complete"]
    assert tracker.done and tracker.intact and tracker.final_event == "complete"


def test_delivery_latency_is_receive_time_minus_event_time() -> None:
    (delivery,) = feed(StreamTracker("e-1", 99.0), (1, "progress"))
    assert delivery.latency_s == 0.25


def test_a_gap_is_a_failure_that_counts_the_missing_events() -> None:
    tracker = StreamTracker("e-1", 99.0)
    deliveries = feed(tracker, (1, "progress"), (4, "progress"))
    assert deliveries[1].reason == "seq gap" and deliveries[1].lost == 2
    assert (tracker.gaps, tracker.lost, tracker.intact) == (1, 2, False)
    assert "expected 2, got 4" in (deliveries[1].problem or "")


def test_a_repeated_seq_is_a_duplicate_and_does_not_move_the_stream() -> None:
    tracker = StreamTracker("e-1", 99.0)
    deliveries = feed(tracker, (1, "progress"), (2, "progress"), (2, "progress"), (3, "complete"))
    assert deliveries[2].kind == "duplicate" and deliveries[2].reason == "duplicate"
    assert deliveries[3].problem is None and tracker.duplicates == 1 and not tracker.intact


def test_anything_after_the_final_event_is_a_failure() -> None:
    tracker = StreamTracker("e-1", 99.0)
    deliveries = feed(tracker, (1, "error"), (2, "progress"))
    assert deliveries[0].final and not deliveries[1].final
    assert deliveries[1].reason == "event after final"
    assert tracker.final_event == "error"


def test_resuming_after_a_reconnect_continues_the_same_stream() -> None:
    tracker = StreamTracker("e-1", 99.0)
    tracker.on_subscribed(1)
    feed(tracker, (1, "progress"), (2, "progress"))
    tracker.on_subscribed(5)  # re-subscribed with last_seq 2 while 3..5 were published
    kinds = [d.kind for d in feed(tracker, (3, "progress"), (4, "progress"), (5, "progress"), (6, "complete"))]
    assert kinds == ["replay", "replay", "replay", "complete"]
    assert tracker.intact


def test_the_memoised_timestamp_parser_agrees_with_the_wire_one() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        stamp = utc_timestamp(rng.uniform(1.6e9, 1.9e9))
        assert event_epoch(stamp) == pytest.approx(parse_timestamp(stamp), abs=1e-6)
    assert event_epoch("2026-02-27T21:00:00.5Z") == pytest.approx(parse_timestamp("2026-02-27T21:00:00.5Z"))


@pytest.mark.parametrize("bad", ["2026-02-27T21:00:00Z", "2026-02-27 21:00:00.123Z", "yesterday", "2026-02-27T21:00:00.12a3Z"])
def test_anything_else_fails_like_the_wire_parser(bad: str) -> None:
    with pytest.raises(ValueError):
        event_epoch(bad)
