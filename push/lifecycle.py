"""The rules an execution's event stream obeys, as pure functions.

Every store applies `advance` inside its own atomic step, so the rules (409
after a final event, 422 on regressing progress or stage, an owner on the first
event) are written once whatever the backend.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from diagops.push.errors import complete_error_data
from diagops.push.protocol import ERROR_TYPES, EVENTS, LANGS, STAGES


class PublishRefused(Exception):
    """An event the service will not store; `status` is the HTTP status to answer."""

    status = 422
    code = "invalid_event"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedEvent(PublishRefused):
    status = 400
    code = "bad_request"


class NoOwner(PublishRefused):
    status = 422
    code = "owner_required"


class AlreadyFinal(PublishRefused):
    status = 409
    code = "already_final"


class Regression(PublishRefused):
    status = 422
    code = "regression"


class TooManyEvents(PublishRefused):
    status = 422
    code = "too_many_events"


class AlreadyStored(Exception):
    """Not a refusal: a publisher retried an event the execution already holds under the same
    idempotency key (say its first try was stored but the answer was lost). Nothing is stored
    again; the publisher is told the original seq."""

    def __init__(self, seq: int) -> None:
        super().__init__(seq)
        self.seq = seq


IDEMPOTENCY_KEYS = "idempotency_keys"  # in Snapshot.meta: key -> seq, stored atomically with each event


@dataclass
class Snapshot:
    """The latest state of one execution: what the polling endpoint answers."""

    execution_id: str
    owner: str
    lang: str
    status: str = "queued"
    stage: str = "queued"
    progress: int = 0
    status_text: str = ""
    seq: int = 0
    updated_at: str = ""
    report: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    created_at: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    # Names this stored stream. Made once, with the execution's first event, and stored with the
    # snapshot: a store that lost the execution (a Redis restarted empty) and sees it published
    # again makes a new one, so a client can tell "seq 1 again" from "seq 1 I already have".
    epoch: str = ""

    @property
    def final(self) -> bool:
        return self.status in ("complete", "error")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        if "epoch" not in data:  # stored before epochs existed: name it by its creation time, stable
            data = {**data, "epoch": f"t{data.get('created_at', 0.0)!r}"}
        return cls(**data)

    def public(self) -> dict[str, Any]:
        """The polling response body (contract: GET /api/v1/executions/{id})."""
        body: dict[str, Any] = {
            "execution_id": self.execution_id,
            "status": self.status,
            "stage": self.stage,
            "progress": self.progress,
            "status_text": self.status_text,
            "seq": self.seq,
            "epoch": self.epoch,
            "updated_at": self.updated_at,
        }
        if self.report is not None:
            body["report"] = self.report
        if self.error is not None:
            body["error"] = self.error
        return body


def _shallow_copy(current: Snapshot) -> Snapshot:
    """The snapshot's fields as they are, with its own `meta` dict: what each event changes.
    asdict() deep-copied the report every event, and dataclasses.replace() re-runs __init__
    (10 % of a batch publish's profile); copying the instance dict does neither."""
    nxt = Snapshot.__new__(Snapshot)
    nxt.__dict__.update(current.__dict__)
    nxt.meta = dict(current.meta)
    return nxt


def new_epoch() -> str:
    """A fresh stream name: random, so two stores (or one restarted) never make the same one."""
    return secrets.token_hex(6)


def validate_event(event: Any, data: Any) -> dict[str, Any]:
    """Check an event's shape; returns its data. Raises MalformedEvent (400)."""
    if event not in EVENTS:
        raise MalformedEvent(f"'event' must be one of {', '.join(EVENTS)}")
    if not isinstance(data, dict):
        raise MalformedEvent("'data' must be an object")
    if event == "progress" and "progress" not in data:
        raise MalformedEvent("a 'progress' event must carry 'data.progress' (an integer from 0 to 100)")
    if "progress" in data:
        progress = data["progress"]
        if isinstance(progress, bool) or not isinstance(progress, int) or not 0 <= progress <= 100:
            raise MalformedEvent("'data.progress' must be an integer from 0 to 100")
    if "stage" in data and data["stage"] not in STAGES:
        raise MalformedEvent(f"'data.stage' must be one of {', '.join(STAGES)}")
    if event == "complete" and not isinstance(data.get("report"), dict):
        raise MalformedEvent("a 'complete' event must carry 'data.report' (an object)")
    if "status_text" in data and not isinstance(data["status_text"], str):
        raise MalformedEvent("'data.status_text' must be a string")
    if event == "error":
        error_type = data.get("error_type", "INTERNAL")
        if error_type not in ERROR_TYPES:
            raise MalformedEvent(f"'data.error_type' must be one of {', '.join(ERROR_TYPES)}")
        for name, kind, what in _ERROR_FIELDS:
            if name in data and (not isinstance(data[name], kind) or (kind is int and isinstance(data[name], bool))):
                raise MalformedEvent(f"'data.{name}' must be {what}")
    return data


# The contract's types for what an `error` event carries (the service fills those left out).
_ERROR_FIELDS = (("error", str, "a string"), ("message", str, "a string"), ("retryable", bool, "true or false"),
                 ("error_details", dict, "an object"))


def advance(
    current: Snapshot | None,
    execution_id: str,
    event: str,
    data: dict[str, Any],
    *,
    timestamp: str,
    now: float,
    owner: str | None = None,
    lang: str | None = None,
    max_events: int | None = None,
    idempotency_key: str | None = None,
) -> tuple[Snapshot, dict[str, Any]]:
    """The next snapshot and the data to store for one event, or PublishRefused.

    The caller stores both atomically; a refused event changes nothing and uses no seq. An
    event whose idempotency key the execution already holds raises AlreadyStored.
    """
    validate_event(event, data)
    if current is not None and idempotency_key is not None:
        seq = current.meta.get(IDEMPOTENCY_KEYS, {}).get(idempotency_key)
        if seq is not None:
            raise AlreadyStored(seq)
    if current is None:
        if not owner:
            raise NoOwner("the first event of an execution must carry 'owner'")
        if lang is not None and lang not in LANGS:
            raise MalformedEvent(f"'lang' must be one of {', '.join(LANGS)}")
        current = Snapshot(execution_id=execution_id, owner=owner, lang=lang or "zh", created_at=now,
                           epoch=new_epoch())
    if current.final:
        raise AlreadyFinal(f"execution {execution_id} already ended with '{current.status}'")
    if max_events is not None and current.seq >= max_events:
        raise TooManyEvents(f"execution {execution_id} reached the cap of {max_events} events")
    progress = data.get("progress", current.progress)
    stage = data.get("stage", current.stage)
    if progress < current.progress:
        raise Regression(f"progress {progress} is lower than the last one ({current.progress})")
    if STAGES.index(stage) < STAGES.index(current.stage):
        raise Regression(f"stage '{stage}' comes before the last one ('{current.stage}')")

    stored = dict(data)
    nxt = _shallow_copy(current)
    nxt.seq = current.seq + 1
    if idempotency_key is not None:
        nxt.meta[IDEMPOTENCY_KEYS] = {**current.meta.get(IDEMPOTENCY_KEYS, {}), idempotency_key: nxt.seq}
    nxt.updated_at = timestamp
    nxt.stage = stage
    nxt.progress = progress
    if event == "progress":
        nxt.status = data.get("status") if data.get("status") in ("queued", "processing") else (
            "queued" if stage == "queued" else "processing"
        )
        nxt.status_text = data.get("status_text", current.status_text)
    elif event == "complete":
        nxt.status = "complete"
        nxt.progress = 100 if "progress" not in data else progress
        nxt.report = data["report"]
        nxt.status_text = data.get("status_text", current.status_text)
    else:
        stored = complete_error_data(data, current.lang)
        nxt.status = "error"
        nxt.error = stored
        nxt.status_text = stored.get("status_text", stored["message"])
    return nxt, stored
