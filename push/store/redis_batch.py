"""A batch of publishes judged for one run of redis_append_many.lua: one round trip, many events.

`RedisStore.publish_many` groups a batch's items by execution (keeping their order), judges
each group with `lifecycle.advance` one item after the other from the execution's snapshot
(remembered by this process, else read for the whole batch in one pipelined round trip), and
sends every group's appends in one script call. What the batch cannot settle alone goes back
to the per-item path (`RedisStore._append_with_retries`) for that execution's items, in order:

- a group whose compare-and-swap lost to another process (the script answers the stored
  snapshot, which the per-item path re-judges from);
- a refusal judged on a remembered snapshot, which may be stale: the per-item path re-reads it
  before refusing, as it does for a single publish.

So every item gets the answer posting it alone would have given, and the fallback costs round
trips only when another process wrote the same execution meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from diagops.push.lifecycle import AlreadyStored, MalformedEvent, PublishRefused, Snapshot, advance
from diagops.push.protocol import dumps, utc_timestamp
from diagops.push.store.base import Outcome, PublishItem, Update

_ENVELOPE_SEPARATOR = "\n"  # never inside an envelope: its JSON is compact and escapes newlines


def encode_envelope(update: Update) -> str:
    """What the log and the channel carry: the exact accepted time, the stream's epoch, then
    the wire text.

    The wire timestamp has millisecond precision; push latency is measured
    from `accepted_at`, so the float rides along; the epoch lets every process's hub tell a
    re-created stream's seq 1 from a duplicate.
    """
    return f"{update.accepted_at!r} {update.epoch} {update.encoded}"


def decode_envelope(raw: str) -> Update:
    """An envelope back into the update it was made from (the accepted time from the envelope,
    not re-parsed from the frame's millisecond timestamp)."""
    accepted, _, rest = raw.partition(" ")
    epoch, encoded = ("", rest) if rest.startswith("{") else rest.split(" ", 1)  # "{": stored before epochs
    payload = encoded.encode()
    message = orjson.loads(payload)
    return Update(message["execution_id"], message["seq"], message["event"], encoded, float(accepted), len(payload),
                  payload, epoch)


def decode_message(raw: str) -> list[Update]:
    """A live-feed message: one envelope (redis_append.lua, and processes from before batches)
    or a batch's envelopes joined by newlines (redis_append_many.lua)."""
    return [decode_envelope(part) for part in raw.split(_ENVELOPE_SEPARATOR)]


@dataclass
class Group:
    """One execution's items of a batch, and what judging them gave."""

    execution_id: str
    indices: list[int]  # positions in the batch, in order
    current: Snapshot | None = None  # what the group is judged from
    confirmed: bool = False  # `current` was read from Redis (not remembered)
    appends: list[tuple[int, Update]] = field(default_factory=list)  # (position, update) to write, in order
    last: Snapshot | None = None  # the snapshot after the last append
    fallback: bool = False  # settle this group on the per-item path instead

    def judge(self, items: Sequence[PublishItem], outcomes: list[Outcome | None], max_events: int) -> None:
        """Chain `advance` over the group's items: each is judged on the snapshot its
        predecessors leave. A refusal on a remembered snapshot sends the group to the fallback."""
        state = self.current
        for index in self.indices:
            item = items[index]
            now = time.time()
            timestamp = utc_timestamp(now)
            try:
                snapshot, stored = advance(
                    state, self.execution_id, item.event, item.data, timestamp=timestamp, now=now,
                    owner=item.owner, lang=item.lang, max_events=max_events, idempotency_key=item.idempotency_key,
                )
            except AlreadyStored as duplicate:
                outcomes[index] = duplicate  # as for a single publish: the snapshot holds the key
                continue
            except MalformedEvent as malformed:  # the event's shape: wrong whatever the snapshot
                outcomes[index] = malformed
                continue
            except PublishRefused as refused:
                if not self.confirmed:
                    self.send_to_fallback()
                    return
                outcomes[index] = refused
                continue
            self.appends.append(
                (index, Update.build(self.execution_id, snapshot.seq, timestamp, item.event, stored, now, snapshot.epoch)),
            )
            self.last = state = snapshot

    def send_to_fallback(self, current: Snapshot | None = None, *, confirmed: bool = False) -> None:
        self.fallback = True
        self.appends.clear()
        self.current, self.confirmed = current, confirmed

    def script_args(self, ttl_ms: int) -> list[Any]:
        """This group's part of redis_append_many.lua's ARGV (its KEYS are the store's to name):
        the scalars in one newline-separated header, since redis-py's cost is per argument."""
        assert self.last is not None and self.appends
        first_seq = self.appends[0][1].seq
        header = f"{version(self.current)}\n{first_seq - 1}\n{version(self.last)}\n{ttl_ms}\n{len(self.appends)}"
        return [header, snapshot_json(self.last), *(encode_envelope(update) for _, update in self.appends)]

    def fail(self, outcomes: list[Outcome | None], exc: Exception) -> None:
        """The appends may or may not have landed: `exc` for every item whose answer depends on
        them, from the first append on (a refusal before it was judged on the snapshot alone, a
        malformed event on its shape)."""
        if not self.appends:
            return
        first = self.indices.index(self.appends[0][0])
        for index in self.indices[first:]:
            if not isinstance(outcomes[index], MalformedEvent):
                outcomes[index] = exc  # type: ignore[assignment] - a StoreUnavailable


def group_by_execution(items: Sequence[PublishItem]) -> dict[str, Group]:
    groups: dict[str, Group] = {}
    for index, item in enumerate(items):
        group = groups.get(item.execution_id)
        if group is None:
            group = groups[item.execution_id] = Group(item.execution_id, [])
        group.indices.append(index)
    return groups


def snapshot_json(snapshot: Snapshot) -> str:
    """The snapshot as the append scripts store it. Its fields as they are, encoded by orjson:
    `dataclasses.asdict` deep-copies the report and the idempotency keys, which was 30 % of a
    batch's CPU in a profile."""
    return dumps(vars(snapshot))


def version(snapshot: Snapshot | None) -> str:
    """What the append scripts compare: seq, and the creation time that tells a re-created
    execution from an expired one with the same id and as many events."""
    return "" if snapshot is None else f"{snapshot.seq}:{snapshot.created_at!r}"
