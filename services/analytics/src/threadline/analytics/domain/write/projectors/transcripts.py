"""Customers' voice notes as the transcriber heard them (issue 11 item 2): the transcript, or
why there is none, on the message's `attachments` row and in the message's metadata.

The session records a transcript once per message, after the audio was kept; should one come
first all the same (or name a message whose attachment was never projected), it is not lost:
it creates the attachment row, `pending` until the attachment's event fills in the media.
A later transcript event for the same message replaces the earlier one.
"""

from __future__ import annotations

import math
from typing import Any

from threadline.analytics.domain.write.changes import Changes
from threadline.analytics.domain.write.projectors.common import (
    EventProjector,
    aggregate_uuid,
    message_id_of,
    occurred_at,
)
from threadline.analytics.domain.write.rows_and_patches import TranscriptRow
from threadline.contracts.events.v1.session_pb2 import SessionEvent

RECORDED, MISSING = "recorded", "missing"


def transcript_recorded(event: SessionEvent, changes: Changes) -> None:
    body = event.transcript_recorded
    at = occurred_at(event)
    seconds = body.duration_seconds
    row = TranscriptRow(
        message_id=message_id_of(body.message_id),
        conversation_id=aggregate_uuid(event),
        position=event.position,
        status=RECORDED,
        text=body.text,
        language=body.language,
        model=body.model,
        # jsonb holds no NaN or infinity, and a duration is never negative
        seconds=seconds if math.isfinite(seconds) and seconds > 0 else 0.0,
        reason="",
        created_at=at,
        recorded_at=at,
    )
    _keep(row, changes)


def transcript_missing(event: SessionEvent, changes: Changes) -> None:
    body = event.transcript_missing
    at = occurred_at(event)
    row = TranscriptRow(
        message_id=message_id_of(body.message_id),
        conversation_id=aggregate_uuid(event),
        position=event.position,
        status=MISSING,
        text="",
        language="",
        model=body.model,
        seconds=0.0,
        reason=body.reason,
        created_at=at,
        recorded_at=at,
    )
    _keep(row, changes)


def _keep(row: TranscriptRow, changes: Changes) -> None:
    changes.keep_transcript(row)
    changes.patch_message(row.message_id, row.recorded_at, metadata={"transcript": summary(row)})


def summary(row: TranscriptRow) -> dict[str, Any]:
    """What the message's metadata says of its transcript."""
    if row.status == RECORDED:
        return {
            "status": RECORDED,
            "text": row.text,
            "language": row.language,
            "model": row.model,
            "duration_seconds": row.seconds,
        }
    return {"status": MISSING, "reason": row.reason, "model": row.model}


PROJECTORS: dict[str, EventProjector] = {
    "transcript_recorded": transcript_recorded,
    "transcript_missing": transcript_missing,
}
