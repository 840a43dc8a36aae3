"""Projecting customers' media as kept or not: one attachment per message, the latest facts
under the first time, and the message's metadata naming it."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING
from uuid import uuid4

from threadline.analytics.domain.write.projection import project

if TYPE_CHECKING:
    from conftest import EventLog


def test_a_stored_attachment_is_a_row_of_its_conversation(log: EventLog) -> None:
    conversation = uuid4()
    stored = log.attachment_stored(
        conversation,
        "m-1",
        media_type="document",
        content_type="application/pdf",
        size=7,
        file_name="invoice.pdf",
        caption="my invoice",
    )

    row = project([stored]).attachments["m-1"]

    assert (row.conversation_id, row.position, row.created_at) == (
        conversation,
        stored.position,
        log.now,
    )
    assert (row.direction, row.status, row.media_type, row.content_type, row.size) == (
        "inbound",
        "stored",
        "document",
        "application/pdf",
        7,
    )
    assert (row.file_name, row.caption, row.location) == ("invoice.pdf", "my invoice", "media/m-1")
    assert row.sha256 == stored.attachment_stored.sha256 and len(row.sha256) == 64


def test_a_failed_attachment_keeps_why_and_whether_it_was_refused(log: EventLog) -> None:
    failed = log.attachment_failed(uuid4(), "m-1", reason="larger than 16 MB", refused=True)

    row = project([failed]).attachments["m-1"]

    assert (row.status, row.failure_reason, row.refused, row.media_type) == (
        "failed",
        "larger than 16 MB",
        True,
        "video",
    )
    assert (row.size, row.sha256, row.location) == (0, "", "")


def test_the_latest_event_wins_under_the_first_ones_position_and_time(log: EventLog) -> None:
    conversation = uuid4()
    failed = log.attachment_failed(conversation, "m-1", media_type="image")
    stored = log.attachment_stored(conversation, "m-1", size=99)

    row = project([failed, stored]).attachments["m-1"]

    assert (row.status, row.failure_reason, row.size) == ("stored", "", 99)
    assert (row.position, row.created_at) == (
        failed.position,
        failed.occurred_at.ToDatetime(tzinfo=UTC),
    )
    assert row.updated_at == log.now


def test_the_same_message_in_another_conversation_leaves_the_first_alone(log: EventLog) -> None:
    first, other = uuid4(), uuid4()

    row = project(
        [log.attachment_stored(first, "m-1", size=1), log.attachment_stored(other, "m-1", size=2)]
    ).attachments["m-1"]

    assert (row.conversation_id, row.size) == (first, 1)


def test_the_message_metadata_names_its_attachment_but_not_where_it_is_kept(
    log: EventLog,
) -> None:
    conversation = uuid4()
    changes = project(
        [
            log.inbound(conversation, "m-1", kind="audio", text=""),
            log.attachment_stored(
                conversation, "m-1", media_type="audio", content_type="audio/ogg", voice=True
            ),
        ]
    )

    shown = changes.patches["m-1"].metadata["attachment"]

    assert shown == {
        "status": "stored",
        "media_type": "audio",
        "content_type": "audio/ogg",
        "size": 2048,
        "sha256": changes.attachments["m-1"].sha256,
        "file_name": "",
        "voice": True,
    }


def test_a_failed_attachment_shows_its_reason_on_the_message(log: EventLog) -> None:
    changes = project([log.attachment_failed(uuid4(), "m-1", reason="HTTP 404")])

    assert changes.patches["m-1"].metadata["attachment"] == {
        "status": "failed",
        "media_type": "video",
        "reason": "HTTP 404",
        "refused": False,
    }
