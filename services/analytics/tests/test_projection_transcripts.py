"""Projecting voice notes' transcripts: kept on the message's attachment row (created pending
when the attachment was not projected yet), the latest winning, and shown on the message."""

from __future__ import annotations

import math
from datetime import UTC
from typing import TYPE_CHECKING
from uuid import uuid4

from threadline.analytics.domain.write.projection import project

if TYPE_CHECKING:
    from conftest import EventLog


def test_a_recorded_transcript_keeps_what_was_heard(log: EventLog) -> None:
    conversation = uuid4()
    stored = log.attachment_stored(conversation, "m-1", media_type="audio", voice=True)
    heard = log.transcript_recorded(
        conversation, "m-1", text="Olá, entregam ao domingo?", language="pt", duration_seconds=4.25
    )

    changes = project([stored, heard])
    row = changes.transcripts["m-1"]

    assert (row.conversation_id, row.status, row.text, row.language, row.model) == (
        conversation,
        "recorded",
        "Olá, entregam ao domingo?",
        "pt",
        "whisper-1",
    )
    assert (row.seconds, row.reason, row.recorded_at) == (4.25, "", log.now)
    assert changes.attachments["m-1"].status == "stored"


def test_a_missing_transcript_keeps_why(log: EventLog) -> None:
    row = project([log.transcript_missing(uuid4(), "m-1", reason="no speech", model="tiny")])
    missing = row.transcripts["m-1"]

    assert (missing.status, missing.reason, missing.model, missing.text, missing.seconds) == (
        "missing",
        "no speech",
        "tiny",
        "",
        0.0,
    )


def test_a_duration_no_column_can_hold_is_zero(log: EventLog) -> None:
    conversation = uuid4()
    for seconds in (math.nan, math.inf, -2.0):
        row = project([log.transcript_recorded(conversation, "m-1", duration_seconds=seconds)])
        assert row.transcripts["m-1"].seconds == 0.0, seconds


def test_the_latest_transcript_wins_under_the_first_ones_position_and_time(log: EventLog) -> None:
    conversation = uuid4()
    missing = log.transcript_missing(conversation, "m-1")
    heard = log.transcript_recorded(conversation, "m-1", text="second try")

    row = project([missing, heard]).transcripts["m-1"]

    assert (row.status, row.text, row.reason, row.recorded_at) == (
        "recorded",
        "second try",
        "",
        log.now,
    )
    assert (row.position, row.created_at) == (
        missing.position,
        missing.occurred_at.ToDatetime(tzinfo=UTC),
    )


def test_an_attachment_after_its_transcript_takes_the_transcripts_place(log: EventLog) -> None:
    """As if written one by one: the transcript created the (pending) row first."""
    conversation = uuid4()
    heard = log.transcript_recorded(conversation, "m-1")
    stored = log.attachment_stored(conversation, "m-1", media_type="audio")

    row = project([heard, stored]).attachments["m-1"]

    assert (row.position, row.created_at, row.status) == (
        heard.position,
        heard.occurred_at.ToDatetime(tzinfo=UTC),
        "stored",
    )


def test_the_same_message_in_another_conversation_is_passed_over(log: EventLog) -> None:
    first, other = uuid4(), uuid4()

    transcript_first = project(
        [log.transcript_recorded(first, "m-1"), log.attachment_stored(other, "m-1")]
    )
    attachment_first = project(
        [log.attachment_stored(first, "m-2"), log.transcript_recorded(other, "m-2")]
    )
    twice = project(
        [log.transcript_recorded(first, "m-3", text="a"), log.transcript_missing(other, "m-3")]
    )

    assert transcript_first.transcripts["m-1"].conversation_id == first
    assert "m-1" not in transcript_first.attachments
    assert "m-2" not in attachment_first.transcripts
    assert (twice.transcripts["m-3"].conversation_id, twice.transcripts["m-3"].text) == (first, "a")


def test_the_message_metadata_shows_its_transcript(log: EventLog) -> None:
    conversation = uuid4()
    heard = project(
        [
            log.inbound(conversation, "m-1", kind="audio", text=""),
            log.transcript_recorded(conversation, "m-1", text="hi", language="en"),
        ]
    )
    missing = project([log.transcript_missing(conversation, "m-2", reason="HTTP 503")])

    assert heard.patches["m-1"].metadata["transcript"] == {
        "status": "recorded",
        "text": "hi",
        "language": "en",
        "model": "whisper-1",
        "duration_seconds": 3.5,
    }
    assert missing.patches["m-2"].metadata["transcript"] == {
        "status": "missing",
        "reason": "HTTP 503",
        "model": "whisper-1",
    }
