"""Voice notes' transcripts over gRPC on a real PostgreSQL: ListAttachments returns each beside
its audio (or why there is none), and the message shows it, whatever order the events came in."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from threadline.contracts.analytics.v1 import analytics_pb2 as pb

if TYPE_CHECKING:
    from conftest import EventLog, RunningAnalytics

    from threadline.contracts.events.v1.session_pb2 import SessionEvent


async def conversation_with_voice_notes(analytics: RunningAnalytics, log: EventLog) -> UUID:
    """A photo (nothing to hear), a voice note heard, one that could not be, and one whose
    transcript was projected before its attachment."""
    contact, conversation = uuid4(), uuid4()
    photo, heard, unheard, early = (
        f"{conversation}-{name}" for name in ("photo", "heard", "unheard", "early")
    )

    def voice(message: str) -> SessionEvent:
        return log.attachment_stored(
            conversation, message, media_type="audio", content_type="audio/ogg", voice=True
        )

    await analytics.publish(
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, photo, kind="image", text=""),
        log.attachment_stored(conversation, photo),
        log.inbound(conversation, heard, kind="audio", text=""),
        voice(heard),
        log.transcript_recorded(
            conversation, heard, text="Do you deliver on Sundays?", duration_seconds=2.5
        ),
        log.inbound(conversation, unheard, kind="audio", text=""),
        voice(unheard),
        log.transcript_missing(conversation, unheard, reason="transcription failed: HTTP 503"),
        log.inbound(conversation, early, kind="audio", text=""),
        log.transcript_recorded(conversation, early, text="Early bird", language="pt"),
    )
    await analytics.projected(log.position)
    return conversation


async def attachments(analytics: RunningAnalytics, conversation: UUID) -> dict[str, pb.Attachment]:
    reply = await analytics.queries.ListAttachments(
        pb.ListAttachmentsRequest(conversation_id=str(conversation)), metadata=analytics.reader
    )
    return {a.message_id.rsplit("-", 1)[1]: a for a in reply.attachments}


async def test_the_transcript_is_listed_beside_its_audio(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    conversation = await conversation_with_voice_notes(analytics, log)

    found = await attachments(analytics, conversation)

    assert list(found) == ["photo", "heard", "unheard", "early"]
    assert not found["photo"].HasField("transcript")
    heard = found["heard"].transcript
    assert (heard.status, heard.text, heard.language, heard.model, heard.duration_seconds) == (
        "recorded",
        "Do you deliver on Sundays?",
        "en",
        "whisper-1",
        2.5,
    )
    assert heard.reason == "" and heard.HasField("recorded_at")
    unheard = found["unheard"].transcript
    assert (unheard.status, unheard.reason, unheard.text) == (
        "missing",
        "transcription failed: HTTP 503",
        "",
    )


async def test_a_transcript_before_its_attachment_is_kept_pending_then_completed(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    conversation = await conversation_with_voice_notes(analytics, log)
    early = f"{conversation}-early"

    pending = (await attachments(analytics, conversation))["early"]
    await analytics.publish(
        log.attachment_stored(
            conversation, early, media_type="audio", content_type="audio/ogg", voice=True
        )
    )
    await analytics.projected(log.position)
    stored = (await attachments(analytics, conversation))["early"]

    assert (pending.status, pending.media_type, pending.direction) == (
        "pending",
        "audio",
        "inbound",
    )
    assert pending.transcript.text == "Early bird"
    assert (stored.status, stored.content_type, stored.voice) == ("stored", "audio/ogg", True)
    assert (stored.transcript.text, stored.transcript.language) == ("Early bird", "pt")
    assert stored.created_at == pending.created_at


async def test_the_message_shows_its_transcript_and_its_attachment_too(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    conversation = await conversation_with_voice_notes(analytics, log)

    found = await analytics.queries.GetConversation(
        pb.GetConversationRequest(conversation_id=str(conversation)), metadata=analytics.reader
    )

    shown = {m.id.rsplit("-", 1)[1]: json.loads(m.metadata_json) for m in found.messages}
    transcript = {
        "status": "recorded",
        "text": "Do you deliver on Sundays?",
        "language": "en",
        "model": "whisper-1",
        "duration_seconds": 2.5,
    }
    assert shown["heard"]["transcript"] == transcript
    assert shown["heard"]["attachment"]["transcript"] == transcript
    assert shown["heard"]["attachment"]["voice"] is True
    assert shown["unheard"]["transcript"]["reason"] == "transcription failed: HTTP 503"
    assert shown["early"]["transcript"]["text"] == "Early bird"
    assert "attachment" not in shown["early"]
    assert "transcript" not in shown["photo"] and "transcript" not in shown["photo"]["attachment"]
