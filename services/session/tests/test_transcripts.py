"""Customers' voice notes heard (issue 11 item 2): the AI responder's TranscriptReady and
TranscriptionFailed become `Conversation.TranscriptRecorded` and `Conversation.TranscriptMissing`,
once per customer message however often they arrive, whatever the conversation's status, and
are relayed on SESSION_EVENTS; a transcript replaces a missing one, a late failure does not undo
it, and a transcript longer than TRANSCRIPT_LIMIT characters is cut to it."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from uuid import UUID, uuid4

import grpc
import pytest
from nats.js import JetStreamContext

from threadline.contracts.events.v1 import ai_pb2, common_pb2, ingest_pb2
from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.messaging.topology import (
    AI_EVENTS,
    DEAD_LETTERS,
    INBOUND_MESSAGE_RECEIVED,
    SESSION_DRAFTS,
    SESSION_EVENTS,
    TRANSCRIPT_READY,
    TRANSCRIPTION_FAILED,
    Topology,
)
from threadline.servicekit.auth import hash_token
from threadline.session.adapters.integration_events.incoming_facts import decode_fact
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import (
    HeardVoiceNote,
    InboundMessage,
    OutboundRequest,
    UnheardVoiceNote,
)
from threadline.session.application.outcomes import APPLIED, Ignored, Rejected
from threadline.session.bootstrap import RunningSession, bootstrap
from threadline.session.config import SessionConfig
from threadline.session.domain.contact import Contact
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.identity import contact_id, inbound_message_id
from threadline.session.domain.transcripts import TRANSCRIPT_LIMIT
from threadline.testing import eventually
from threadline.testing.clock import FakeClock

InboundFactory = Callable[..., InboundMessage]
ConfigFactory = Callable[..., SessionConfig]
TOKEN = "transcripts-test-token"
HEARD_AT = datetime(2026, 3, 1, 9, 31, 7, tzinfo=UTC)
SAID = "Olá, queria remarcar o corte de sábado para as 15h 🙂"


def voice_note(app: Conversations, inbound: InboundFactory, wa_id: str) -> tuple[UUID, UUID]:
    """A conversation opened by a customer's voice note, and that message's id."""
    wamid = f"wamid.{uuid4().hex}"
    note = inbound(wa_id=wa_id, wamid=wamid, content={"type": "audio", "text": ""})
    assert app.record_facts([note]) == [APPLIED]
    contact = app.repository.get(contact_id("pn-1", wa_id, ""))
    assert isinstance(contact, Contact) and contact.open_conversation_id is not None
    return contact.open_conversation_id, inbound_message_id(wamid)


def heard(conversation_id: UUID, message_id: UUID, text: str = SAID) -> HeardVoiceNote:
    return HeardVoiceNote(
        message_id=message_id,
        conversation_id=conversation_id,
        text=text,
        language="pt",
        model="openai:whisper-1",
        duration_seconds=6.5,
        transcribed_at=HEARD_AT,
    )


def unheard(conversation_id: UUID, message_id: UUID, reason: str = "busy") -> UnheardVoiceNote:
    return UnheardVoiceNote(
        message_id=message_id,
        conversation_id=conversation_id,
        reason=reason,
        model="openai:whisper-1",
        failed_at=HEARD_AT,
    )


def transcript_events(app: Conversations, conversation_id: UUID) -> list[object]:
    return [
        e
        for e in app.events.get(conversation_id)
        if isinstance(e, Conversation.TranscriptRecorded | Conversation.TranscriptMissing)
    ]


# In the application -----------------------------------------------------------------------------


def test_a_transcript_is_recorded_once_with_everything_the_ai_responder_reported(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id, message_id = voice_note(app, inbound, "15559100001")

    first = app.record_facts([heard(conversation_id, message_id)] * 2)
    again = app.record_facts([heard(conversation_id, message_id, text="something else")])

    assert first[0] == APPLIED and isinstance(first[1], Ignored)
    assert isinstance(again[0], Ignored) and "already recorded" in again[0].reason
    (recorded,) = transcript_events(app, conversation_id)
    assert isinstance(recorded, Conversation.TranscriptRecorded)
    assert (recorded.message_id, recorded.text, recorded.language) == (message_id, SAID, "pt")
    assert (recorded.model, recorded.duration_seconds) == ("openai:whisper-1", 6.5)
    assert recorded.transcribed_at == HEARD_AT


def test_a_missing_transcript_is_recorded_once_and_a_transcript_replaces_it(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id, message_id = voice_note(app, inbound, "15559100002")

    missing = app.record_facts([unheard(conversation_id, message_id, "503 three times")])
    missing_again = app.record_facts([unheard(conversation_id, message_id, "another reason")])
    recorded = app.record_facts([heard(conversation_id, message_id)])
    missing_late = app.record_facts([unheard(conversation_id, message_id, "late")])

    assert (missing, recorded) == ([APPLIED], [APPLIED])
    assert isinstance(missing_again[0], Ignored) and isinstance(missing_late[0], Ignored)
    events = transcript_events(app, conversation_id)
    assert [type(e).__name__ for e in events] == ["TranscriptMissing", "TranscriptRecorded"]
    first = events[0]
    assert isinstance(first, Conversation.TranscriptMissing)
    assert (first.message_id, first.reason, first.model) == (
        message_id,
        "503 three times",
        "openai:whisper-1",
    )
    assert app.repository.get(conversation_id).transcripts == {str(message_id): "recorded"}


def test_a_transcript_longer_than_the_limit_is_cut_to_it_and_logged(
    app: Conversations, inbound: InboundFactory, caplog: pytest.LogCaptureFixture
) -> None:
    conversation_id, message_id = voice_note(app, inbound, "15559100003")
    runaway = "é" * (TRANSCRIPT_LIMIT - 1) + "🙂🙂" + "x" * 10_000

    with caplog.at_level(logging.WARNING):
        assert app.record_facts([heard(conversation_id, message_id, text=runaway)]) == [APPLIED]

    (recorded,) = transcript_events(app, conversation_id)
    assert isinstance(recorded, Conversation.TranscriptRecorded)
    assert recorded.text == "é" * (TRANSCRIPT_LIMIT - 1) + "🙂"
    assert len(recorded.text) == TRANSCRIPT_LIMIT == 4_096
    assert f"{len(runaway)} characters; its first 4096 are recorded" in caplog.text


def test_a_transcript_of_exactly_the_limit_is_kept_whole(
    app: Conversations, inbound: InboundFactory, caplog: pytest.LogCaptureFixture
) -> None:
    conversation_id, message_id = voice_note(app, inbound, "15559100004")
    text = "a" * TRANSCRIPT_LIMIT

    with caplog.at_level(logging.WARNING):
        app.record_facts([heard(conversation_id, message_id, text=text)])

    (recorded,) = transcript_events(app, conversation_id)
    assert isinstance(recorded, Conversation.TranscriptRecorded) and recorded.text == text
    assert "are recorded" not in caplog.text


def test_a_closed_conversation_still_records_its_transcript(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id, message_id = voice_note(app, inbound, "15559100005")
    app.change_status(conversation_id, "completed", reason="done", by="agent")

    assert app.record_facts([unheard(conversation_id, message_id)]) == [APPLIED]
    assert app.record_facts([heard(conversation_id, message_id)]) == [APPLIED]

    assert len(transcript_events(app, conversation_id)) == 2


def test_a_transcript_of_no_customer_message_of_the_conversation_is_ignored(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id, message_id = voice_note(app, inbound, "15559100006")
    other_conversation, other_message = voice_note(app, inbound, "15559100007")
    _, reply_id = app.send_message(
        OutboundRequest(
            content={"type": "text", "text": "Claro!"},
            idempotency_key="reply-1",
            conversation_id=conversation_id,
        )
    )

    outcomes = app.record_facts(
        [
            heard(conversation_id, uuid4()),  # never received
            heard(conversation_id, other_message),  # another conversation's
            heard(conversation_id, reply_id),  # the business's, not the customer's
            unheard(other_conversation, message_id),
        ]
    )

    assert all(isinstance(o, Ignored) for o in outcomes)
    assert all("is no customer message" in o.reason for o in outcomes if isinstance(o, Ignored))
    assert transcript_events(app, conversation_id) == []
    assert transcript_events(app, other_conversation) == []


def test_a_transcript_of_a_conversation_the_session_never_opened_is_refused(
    app: Conversations,
) -> None:
    unknown = uuid4()

    outcomes = app.record_facts([heard(unknown, uuid4()), unheard(unknown, uuid4())])

    assert [o.slug for o in outcomes if isinstance(o, Rejected)] == ["ConversationNotFound"] * 2


def test_transcript_facts_decode_with_everything_the_ai_responder_reported() -> None:
    conversation_id, message_id = uuid4(), uuid4()
    ready = ai_pb2.TranscriptReady(
        message_id=str(message_id),
        conversation_id=str(conversation_id),
        text=SAID,
        language="pt",
        model="faster-whisper:small",
        duration_seconds=12.75,
    )
    ready.transcribed_at.FromDatetime(HEARD_AT)
    failed = ai_pb2.TranscriptionFailed(
        message_id=str(message_id),
        conversation_id=str(conversation_id),
        reason="no transcription model configured",
        model="",
    )
    failed.failed_at.FromDatetime(HEARD_AT)

    fact = decode_fact(
        "ai_responder.events.Conversation.TranscriptReady", ready.SerializeToString(), trace="t"
    )
    failure = decode_fact(
        "ai_responder.events.Conversation.TranscriptionFailed", failed.SerializeToString()
    )

    assert fact == HeardVoiceNote(
        message_id=message_id,
        conversation_id=conversation_id,
        text=SAID,
        language="pt",
        model="faster-whisper:small",
        duration_seconds=12.75,
        transcribed_at=HEARD_AT,
        trace="t",
    )
    assert failure == UnheardVoiceNote(
        message_id=message_id,
        conversation_id=conversation_id,
        reason="no transcription model configured",
        model="",
        failed_at=HEARD_AT,
    )


@pytest.mark.parametrize("duration", [math.nan, math.inf, -1.0])
def test_a_duration_that_is_no_number_of_seconds_is_kept_as_not_said(duration: float) -> None:
    ready = ai_pb2.TranscriptReady(
        message_id=str(uuid4()), conversation_id=str(uuid4()), duration_seconds=duration
    )

    fact = decode_fact(
        "ai_responder.events.Conversation.TranscriptReady", ready.SerializeToString()
    )

    assert isinstance(fact, HeardVoiceNote) and fact.duration_seconds == 0.0


# The service over real NATS and PostgreSQL -------------------------------------------------------


@pytest.fixture
async def service(
    session_config: ConfigFactory, service_clock: FakeClock
) -> AsyncIterator[RunningSession]:
    config = session_config(api_tokens=f"{hash_token(TOKEN)}:read,write,admin:*")
    async with AsyncExitStack() as stack:
        yield await bootstrap(config, stack, clock=service_clock)


async def publish(js: JetStreamContext, subject: str, data: bytes, msg_id: str) -> None:
    await js.publish(subject, data, headers={"Nats-Msg-Id": msg_id})


async def relayed(js: JetStreamContext, topology: Topology) -> list[events_pb.SessionEvent]:
    stream = topology.stream(SESSION_EVENTS)
    info = await js.stream_info(stream)
    return [
        events_pb.SessionEvent.FromString((await js.get_msg(stream, seq)).data)
        for seq in range(1, info.state.last_seq + 1)
    ]


async def customer_voice_note(
    js: JetStreamContext, topology: Topology, wa_id: str
) -> tuple[str, str]:
    """A customer's voice note, as ingest publishes it; its conversation id and message id once
    the session has recorded it."""
    wamid = f"wamid.{uuid4().hex}"
    fact = ingest_pb2.InboundMessageReceived(
        wamid=wamid,
        phone_number_id="pn-voice",
        customer=common_pb2.CustomerIdentity(wa_id=wa_id, profile_name="Ana"),
        content=common_pb2.MessageContent(type="audio"),
        raw_json='{"type": "audio", "audio": {"id": "media-9", "mime_type": "audio/ogg; '
        'codecs=opus", "voice": true}}',
    )
    fact.sent_at.FromDatetime(datetime.now(UTC))
    fact.received_at.FromDatetime(datetime.now(UTC))
    subject = topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id="pn-voice")
    await publish(js, subject, fact.SerializeToString(), wamid)

    async def received() -> str | None:
        return next(
            (
                e.aggregate_id
                for e in await relayed(js, topology)
                if e.HasField("customer_message_received")
            ),
            None,
        )

    await eventually(received)
    found = await received()
    assert found is not None
    return found, str(inbound_message_id(wamid))


def transcript_ready(conversation_id: str, message_id: str, text: str = SAID) -> bytes:
    event = ai_pb2.TranscriptReady(
        message_id=message_id,
        conversation_id=conversation_id,
        text=text,
        language="pt",
        model="openai:whisper-1",
        duration_seconds=6.5,
    )
    event.transcribed_at.FromDatetime(HEARD_AT)
    return event.SerializeToString()


def transcription_failed(conversation_id: str, message_id: str) -> bytes:
    event = ai_pb2.TranscriptionFailed(
        message_id=message_id,
        conversation_id=conversation_id,
        reason="the transcription server answered 503 three times",
        model="openai:whisper-1",
    )
    event.failed_at.FromDatetime(HEARD_AT)
    return event.SerializeToString()


async def drafts_settled(js: JetStreamContext, topology: Topology, delivered: int) -> bool:
    info = await js.consumer_info(topology.stream(AI_EVENTS), SESSION_DRAFTS.name)
    return (info.num_pending, info.num_ack_pending, info.delivered.stream_seq) == (
        0,
        0,
        delivered,
    )


async def dead_letters(js: JetStreamContext, topology: Topology) -> list[str]:
    stream = topology.stream(DEAD_LETTERS)
    info = await js.stream_info(stream)
    return [(await js.get_msg(stream, seq)).subject for seq in range(1, info.state.last_seq + 1)]


def bodies(events: list[events_pb.SessionEvent], field: str) -> list[events_pb.SessionEvent]:
    return [e for e in events if e.HasField(field)]


async def _has(js: JetStreamContext, topology: Topology, field: str) -> bool:
    return bool(bodies(await relayed(js, topology), field))


async def test_a_transcript_is_recorded_once_on_a_closed_conversation_cut_and_relayed(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    conversation_id, message_id = await customer_voice_note(js, topology, "15559100010")
    service.app.change_status(UUID(conversation_id), "completed", reason="done", by="agent")
    subject = topology.publish_subject(TRANSCRIPT_READY)
    text = SAID + " " + "la" * TRANSCRIPT_LIMIT
    data = transcript_ready(conversation_id, message_id, text)

    # The AI responder publishing twice, and a redelivery after JetStream's duplicate window.
    await publish(js, subject, data, f"transcript:{message_id}")
    await publish(js, subject, data, f"transcript:{message_id}")
    await publish(js, subject, data, f"transcript:{message_id}:again")

    await eventually(lambda: drafts_settled(js, topology, 2))
    await eventually(lambda: _has(js, topology, "transcript_recorded"))
    stored = [type(e).__name__ for e in service.app.events.get(UUID(conversation_id))]
    assert stored.count("TranscriptRecorded") == 1
    (event,) = bodies(await relayed(js, topology), "transcript_recorded")
    assert (event.aggregate_id, event.event_type) == (
        conversation_id,
        "Conversation.TranscriptRecorded",
    )
    body = event.transcript_recorded
    assert (body.message_id, body.text) == (message_id, text[:TRANSCRIPT_LIMIT])
    assert (body.language, body.model, body.duration_seconds) == ("pt", "openai:whisper-1", 6.5)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        log = pb_grpc.EventLogStub(channel)
        auth = (("authorization", f"Bearer {TOKEN}"),)
        from_log = [e async for e in log.ReadAll(pb.ReadAllRequest(from_position=1), metadata=auth)]
    (logged,) = bodies(from_log, "transcript_recorded")
    assert logged.transcript_recorded == body
    assert await dead_letters(js, topology) == []


async def test_a_missing_transcript_is_recorded_once_then_replaced_by_the_transcript(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    conversation_id, message_id = await customer_voice_note(js, topology, "15559100011")
    failed = transcription_failed(conversation_id, message_id)

    await publish(js, topology.publish_subject(TRANSCRIPTION_FAILED), failed, "f-1")
    await publish(js, topology.publish_subject(TRANSCRIPTION_FAILED), failed, "f-2")
    await eventually(lambda: drafts_settled(js, topology, 2))
    await publish(
        js,
        topology.publish_subject(TRANSCRIPT_READY),
        transcript_ready(conversation_id, message_id),
        "r-1",
    )

    await eventually(lambda: drafts_settled(js, topology, 3))
    await eventually(lambda: _has(js, topology, "transcript_recorded"))
    events = await relayed(js, topology)
    recorded = [e.event_type for e in events if e.event_type.startswith("Conversation.Transcr")]
    assert recorded == ["Conversation.TranscriptMissing", "Conversation.TranscriptRecorded"]
    (missing,) = bodies(events, "transcript_missing")
    body = missing.transcript_missing
    assert (body.message_id, body.model) == (message_id, "openai:whisper-1")
    assert body.reason == "the transcription server answered 503 three times"
    assert bodies(events, "transcript_recorded")[0].transcript_recorded.text == SAID
    assert await dead_letters(js, topology) == []


async def test_transcripts_of_an_unknown_message_are_acked_of_an_unknown_conversation_dead_lettered(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    conversation_id, _ = await customer_voice_note(js, topology, "15559100012")
    stored_before = service.app.recorder.max_notification_id()

    await publish(
        js,
        topology.publish_subject(TRANSCRIPT_READY),
        transcript_ready(conversation_id, str(uuid4())),
        "unknown-message",
    )
    await publish(
        js,
        topology.publish_subject(TRANSCRIPTION_FAILED),
        transcription_failed(str(uuid4()), str(uuid4())),
        "unknown-conversation",
    )

    await eventually(lambda: drafts_settled(js, topology, 2))
    assert service.app.recorder.max_notification_id() == stored_before
    assert await dead_letters(js, topology) == [
        topology.dead_letter_subject("session", "ConversationNotFound")
    ]
