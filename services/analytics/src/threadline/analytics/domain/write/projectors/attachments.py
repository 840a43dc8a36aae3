"""Media as the platform kept them (issue 11 item 4): a customer's, and a file an operator sent
(`direction` outbound, item 5); one `attachments` row per message, and the message's metadata
naming its attachment.

A message's attachment is recorded stored or failed; should a later event record it again (a
retry kept it after all), the latest facts win, under the first event's position and time.
The media store's `location` goes into the row (the gateway serves the file through it) but
not into the message's metadata, which every reader of the conversation sees.
"""

from __future__ import annotations

from typing import Any

from threadline.analytics.domain.write.changes import Changes
from threadline.analytics.domain.write.projectors.common import (
    EventProjector,
    aggregate_uuid,
    message_id_of,
    occurred_at,
)
from threadline.analytics.domain.write.rows_and_patches import AttachmentRow
from threadline.contracts.events.v1.session_pb2 import SessionEvent

INBOUND = "inbound"
STORED, FAILED = "stored", "failed"


def attachment_stored(event: SessionEvent, changes: Changes) -> None:
    body = event.attachment_stored
    at = occurred_at(event)
    row = AttachmentRow(
        message_id=message_id_of(body.message_id),
        conversation_id=aggregate_uuid(event),
        position=event.position,
        direction=body.direction or INBOUND,  # "" in events stored before directions
        media_id=body.media_id,
        media_type=body.media_type,
        content_type=body.content_type,
        size=body.size,
        sha256=body.sha256,
        file_name=body.file_name,
        caption=body.caption,
        voice=body.voice,
        location=body.location,
        status=STORED,
        failure_reason="",
        refused=False,
        created_at=at,
        updated_at=at,
    )
    _keep(row, changes)


def attachment_failed(event: SessionEvent, changes: Changes) -> None:
    body = event.attachment_failed
    at = occurred_at(event)
    row = AttachmentRow(
        message_id=message_id_of(body.message_id),
        conversation_id=aggregate_uuid(event),
        position=event.position,
        direction=INBOUND,
        media_id=body.media_id,
        media_type=body.media_type,
        content_type="",
        size=0,
        sha256="",
        file_name="",
        caption="",
        voice=False,
        location="",
        status=FAILED,
        failure_reason=body.reason,
        refused=body.refused,
        created_at=at,
        updated_at=at,
    )
    _keep(row, changes)


def _keep(row: AttachmentRow, changes: Changes) -> None:
    changes.keep_attachment(row)
    changes.patch_message(row.message_id, row.updated_at, metadata={"attachment": summary(row)})


def summary(row: AttachmentRow) -> dict[str, Any]:
    """What the message's metadata says of its attachment (no location: internal)."""
    shown: dict[str, Any] = {"status": row.status, "media_type": row.media_type}
    if row.status == STORED:
        shown |= {
            "content_type": row.content_type,
            "size": row.size,
            "sha256": row.sha256,
            "file_name": row.file_name,
            "voice": row.voice,
        }
    else:
        shown |= {"reason": row.failure_reason, "refused": row.refused}
    return shown


PROJECTORS: dict[str, EventProjector] = {
    "attachment_stored": attachment_stored,
    "attachment_failed": attachment_failed,
}
