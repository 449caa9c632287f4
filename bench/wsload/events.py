"""The pushed frame the workload carries: its `data`, padded to a chosen size."""

from __future__ import annotations

import time
from typing import Any

from diagops.push.protocol import dumps, update_message, utc_timestamp

UPDATE_PREFIX = b'{"type":"diagnosis_update"'  # how a subscriber tells an update from other frames unparsed


def event_data(sent_at: float, pad: str) -> dict[str, Any]:
    return {"progress": 50, "stage": "analyzing", "status": "processing", "status_text": pad, "sent_at": sent_at}


def pad_for(execution_id: str, event_bytes: int) -> str:
    """Padding that makes one pushed diagnosis_update frame about `event_bytes` long."""
    sample = dumps(update_message(execution_id, 100, utc_timestamp(time.time()), "progress", event_data(time.time(), "")))
    return "x" * max(0, event_bytes - len(sample))
