"""Customers' attachments (issue 11 item 1): outbound's MediaKept and MediaKeepFailed become
`Conversation.AttachmentStored` and `Conversation.AttachmentFailed`, once per customer message
however often they arrive, whatever the conversation's status, and are relayed on
SESSION_EVENTS; a stored attachment replaces a failure, a late failure does not undo it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from uuid import UUID, uuid4

import grpc
import pytest
from nats.js import JetStreamContext

from threadline.contracts.events.v1 import common_pb2, ingest_pb2, outbound_pb2
from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.messaging.topology import (
    DEAD_LETTERS,
    INBOUND_MESSAGE_RECEIVED,
    MEDIA_KEEP_FAILED,
    MEDIA_KEPT,
    OUTBOUND_EVENTS,
    SESSION_DISPATCHES,
    SESSION_EVENTS,
    Topology,
)
from threadline.servicekit.auth import hash_token
from threadline.session.adapters.integration_events.incoming_facts import decode_fact
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import (
    InboundMessage,
    KeptMedia,
    MediaNotKept,
    OutboundRequest,
)
from threadline.session.application.outcomes import APPLIED, Ignored, Rejected
from threadline.session.bootstrap import RunningSession, bootstrap
from threadline.session.config import SessionConfig
from threadline.session.domain.contact import Contact
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.identity import contact_id, inbound_message_id
from threadline.testing import eventually
from threadline.testing.clock import FakeClock

InboundFactory = Callable[..., InboundMessage]
ConfigFactory = Callable[..., SessionConfig]
TOKEN = "attachments-test-token"
KEPT_AT = datetime(2026, 3, 1, 9, 31, 5, tzinfo=UTC)
SHA256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"


def customer_message(app: Conversations, inbound: InboundFactory, wa_id: str) -> tuple[UUID, UUID]:
    """A conversation opened by a customer's photo, and that message's id."""
    wamid = f"wamid.{uuid4().hex}"
    photo = inbound(wa_id=wa_id, wamid=wamid, content={"type": "image", "text": "the invoice"})
    assert app.record_facts([photo]) == [APPLIED]
    contact = app.repository.get(contact_id("pn-1", wa_id, ""))
    assert isinstance(contact, Contact) and contact.open_conversation_id is not None
    return contact.open_conversation_id, inbound_message_id(wamid)


def kept(conversation_id: UUID, message_id: UUID, location: str = "file:///m/2c/26") -> KeptMedia:
    return KeptMedia(
        message_id=message_id,
        conversation_id=conversation_id,
        media_id="media-1",
        media_type="image",
        content_type="image/jpeg",
        size=48213,
        sha256=SHA256,
        file_name="invoice.jpg",
        caption="the invoice",
        voice=False,
        location=location,
        kept_at=KEPT_AT,
    )


def not_kept(conversation_id: UUID, message_id: UUID, reason: str = "expired") -> MediaNotKept:
    return MediaNotKept(
        message_id=message_id,
        conversation_id=conversation_id,
        media_id="media-1",
        media_type="image",
        reason=reason,
        refused=False,
        attempts=5,
        failed_at=KEPT_AT,
    )


def attachment_events(app: Conversations, conversation_id: UUID) -> list[object]:
    return [
        e
        for e in app.events.get(conversation_id)
        if isinstance(e, Conversation.AttachmentStored | Conversation.AttachmentFailed)
    ]


# In the application -----------------------------------------------------------------------------


def test_kept_media_is_stored_once_with_everything_outbound_reported(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id, message_id = customer_message(app, inbound, "15559000001")

    first = app.record_facts([kept(conversation_id, message_id), kept(conversation_id, message_id)])
    again = app.record_facts([kept(conversation_id, message_id, location="s3://other/key")])

    assert first[0] == APPLIED and isinstance(first[1], Ignored)
    assert isinstance(again[0], Ignored) and "already stored" in again[0].reason
    (stored,) = attachment_events(app, conversation_id)
    assert isinstance(stored, Conversation.AttachmentStored)
    assert (stored.message_id, stored.media_id, stored.media_type) == (
        message_id,
        "media-1",
        "image",
    )
    assert (stored.content_type, stored.size, stored.sha256) == ("image/jpeg", 48213, SHA256)
    assert (stored.file_name, stored.caption, stored.voice) == ("invoice.jpg", "the invoice", False)
    assert (stored.location, stored.kept_at) == ("file:///m/2c/26", KEPT_AT)


def test_a_failure_is_recorded_once_and_kept_media_replaces_it(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id, message_id = customer_message(app, inbound, "15559000002")

    failed = app.record_facts([not_kept(conversation_id, message_id, "Graph API 500, 5 tries")])
    failed_again = app.record_facts([not_kept(conversation_id, message_id, "another reason")])
    stored = app.record_facts([kept(conversation_id, message_id)])
    failed_late = app.record_facts([not_kept(conversation_id, message_id, "late")])

    assert (failed, stored) == ([APPLIED], [APPLIED])
    assert isinstance(failed_again[0], Ignored) and isinstance(failed_late[0], Ignored)
    recorded = attachment_events(app, conversation_id)
    assert [type(e).__name__ for e in recorded] == ["AttachmentFailed", "AttachmentStored"]
    failure = recorded[0]
    assert isinstance(failure, Conversation.AttachmentFailed)
    assert (failure.reason, failure.refused, failure.attempts) == (
        "Graph API 500, 5 tries",
        False,
        5,
    )


def test_a_closed_conversation_still_keeps_its_attachment(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id, message_id = customer_message(app, inbound, "15559000003")
    app.change_status(conversation_id, "completed", reason="done", by="agent")

    assert app.record_facts([kept(conversation_id, message_id)]) == [APPLIED]

    assert len(attachment_events(app, conversation_id)) == 1


def test_media_of_no_customer_message_of_the_conversation_is_ignored(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id, message_id = customer_message(app, inbound, "15559000004")
    other_conversation, other_message = customer_message(app, inbound, "15559000005")
    _, reply_id = app.send_message(
        OutboundRequest(
            content={"type": "text", "text": "Thanks!"},
            idempotency_key="reply-1",
            conversation_id=conversation_id,
        )
    )

    outcomes = app.record_facts(
        [
            kept(conversation_id, uuid4()),  # never received
            kept(conversation_id, other_message),  # another conversation's
            kept(conversation_id, reply_id),  # the business's, not the customer's
            not_kept(other_conversation, message_id),
        ]
    )

    assert all(isinstance(o, Ignored) for o in outcomes)
    assert all("is no customer message" in o.reason for o in outcomes if isinstance(o, Ignored))
    assert attachment_events(app, conversation_id) == []
    assert attachment_events(app, other_conversation) == []


def test_media_of_a_conversation_the_session_never_opened_is_refused(
    app: Conversations,
) -> None:
    unknown = uuid4()

    outcomes = app.record_facts([kept(unknown, uuid4()), not_kept(unknown, uuid4())])

    assert [o.slug for o in outcomes if isinstance(o, Rejected)] == ["ConversationNotFound"] * 2


def test_media_kept_decodes_with_everything_outbound_reported() -> None:
    conversation_id, message_id = uuid4(), uuid4()
    event = outbound_pb2.MediaKept(
        message_id=str(message_id),
        conversation_id=str(conversation_id),
        media_id="media-1",
        media_type="audio",
        content_type="audio/ogg",
        size=5_000_000_000,
        sha256=SHA256,
        file_name="",
        caption="",
        voice=True,
        location="s3://threadline-media/2c/26",
    )
    event.kept_at.FromDatetime(KEPT_AT)
    failed = outbound_pb2.MediaKeepFailed(
        message_id=str(message_id),
        conversation_id=str(conversation_id),
        media_id="media-1",
        media_type="audio",
        reason="larger than 16 MiB",
        refused=True,
        attempts=1,
    )
    failed.failed_at.FromDatetime(KEPT_AT)

    fact = decode_fact("outbound.events.Media.Kept", event.SerializeToString(), trace="t")
    failure = decode_fact("outbound.events.Media.KeepFailed", failed.SerializeToString())

    assert fact == KeptMedia(
        message_id=message_id,
        conversation_id=conversation_id,
        media_id="media-1",
        media_type="audio",
        content_type="audio/ogg",
        size=5_000_000_000,
        sha256=SHA256,
        file_name="",
        caption="",
        voice=True,
        location="s3://threadline-media/2c/26",
        kept_at=KEPT_AT,
        trace="t",
    )
    assert failure == MediaNotKept(
        message_id=message_id,
        conversation_id=conversation_id,
        media_id="media-1",
        media_type="audio",
        reason="larger than 16 MiB",
        refused=True,
        attempts=1,
        failed_at=KEPT_AT,
    )


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


async def customer_photo(js: JetStreamContext, topology: Topology, wa_id: str) -> tuple[str, str]:
    """A customer's photo, as ingest publishes it; its conversation id and message id once the
    session has recorded it."""
    wamid = f"wamid.{uuid4().hex}"
    fact = ingest_pb2.InboundMessageReceived(
        wamid=wamid,
        phone_number_id="pn-media",
        customer=common_pb2.CustomerIdentity(wa_id=wa_id, profile_name="Ana"),
        content=common_pb2.MessageContent(type="image", text="the invoice"),
        raw_json='{"type": "image", "image": {"id": "media-1", "mime_type": "image/jpeg"}}',
    )
    fact.sent_at.FromDatetime(datetime.now(UTC))
    fact.received_at.FromDatetime(datetime.now(UTC))
    subject = topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id="pn-media")
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


def media_kept(conversation_id: str, message_id: str) -> bytes:
    event = outbound_pb2.MediaKept(
        message_id=message_id,
        conversation_id=conversation_id,
        media_id="media-1",
        media_type="image",
        content_type="image/jpeg",
        size=48213,
        sha256=SHA256,
        file_name="invoice.jpg",
        caption="the invoice",
        location="file:///var/threadline/media/2c/26/2c26b46b",
    )
    event.kept_at.FromDatetime(KEPT_AT)
    return event.SerializeToString()


def media_keep_failed(conversation_id: str, message_id: str) -> bytes:
    event = outbound_pb2.MediaKeepFailed(
        message_id=message_id,
        conversation_id=conversation_id,
        media_id="media-1",
        media_type="image",
        reason="the download URL expired after 3 tries",
        attempts=3,
    )
    event.failed_at.FromDatetime(KEPT_AT)
    return event.SerializeToString()


async def dispatches_settled(js: JetStreamContext, topology: Topology, delivered: int) -> bool:
    info = await js.consumer_info(topology.stream(OUTBOUND_EVENTS), SESSION_DISPATCHES.name)
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


async def test_kept_media_is_recorded_once_on_a_closed_conversation_and_relayed(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    conversation_id, message_id = await customer_photo(js, topology, "15559000010")
    service.app.change_status(UUID(conversation_id), "completed", reason="done", by="agent")
    subject = topology.publish_subject(MEDIA_KEPT)
    data = media_kept(conversation_id, message_id)

    # Outbound publishing twice, and a redelivery after JetStream's duplicate window.
    await publish(js, subject, data, f"{message_id}:media-kept")
    await publish(js, subject, data, f"{message_id}:media-kept")
    await publish(js, subject, data, f"{message_id}:media-kept-again")

    await eventually(lambda: dispatches_settled(js, topology, 2))
    await eventually(lambda: _has(js, topology, "attachment_stored"))
    stored = [type(e).__name__ for e in service.app.events.get(UUID(conversation_id))]
    assert stored.count("AttachmentStored") == 1
    (event,) = bodies(await relayed(js, topology), "attachment_stored")
    assert (event.aggregate_id, event.event_type) == (
        conversation_id,
        "Conversation.AttachmentStored",
    )
    body = event.attachment_stored
    assert (body.message_id, body.media_id, body.media_type) == (message_id, "media-1", "image")
    assert (body.content_type, body.size, body.sha256) == ("image/jpeg", 48213, SHA256)
    assert (body.file_name, body.caption, body.voice) == ("invoice.jpg", "the invoice", False)
    assert body.location == "file:///var/threadline/media/2c/26/2c26b46b"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        log = pb_grpc.EventLogStub(channel)
        auth = (("authorization", f"Bearer {TOKEN}"),)
        from_log = [e async for e in log.ReadAll(pb.ReadAllRequest(from_position=1), metadata=auth)]
    (logged,) = bodies(from_log, "attachment_stored")
    assert logged.attachment_stored == body
    assert await dead_letters(js, topology) == []


async def test_a_failure_is_recorded_once_then_replaced_by_the_kept_media(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    conversation_id, message_id = await customer_photo(js, topology, "15559000011")
    failed = media_keep_failed(conversation_id, message_id)

    await publish(js, topology.publish_subject(MEDIA_KEEP_FAILED), failed, "f-1")
    await publish(js, topology.publish_subject(MEDIA_KEEP_FAILED), failed, "f-2")
    await eventually(lambda: dispatches_settled(js, topology, 2))
    await publish(
        js, topology.publish_subject(MEDIA_KEPT), media_kept(conversation_id, message_id), "k-1"
    )

    await eventually(lambda: dispatches_settled(js, topology, 3))
    await eventually(lambda: _has(js, topology, "attachment_stored"))
    events = await relayed(js, topology)
    recorded = [e.event_type for e in events if e.event_type.startswith("Conversation.Attach")]
    assert recorded == ["Conversation.AttachmentFailed", "Conversation.AttachmentStored"]
    (failure,) = bodies(events, "attachment_failed")
    body = failure.attachment_failed
    assert (body.message_id, body.media_id, body.media_type) == (message_id, "media-1", "image")
    assert (body.reason, body.refused) == ("the download URL expired after 3 tries", False)
    assert await dead_letters(js, topology) == []


async def test_media_of_an_unknown_message_is_acked_and_of_an_unknown_conversation_dead_lettered(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    conversation_id, _ = await customer_photo(js, topology, "15559000012")
    stored_before = service.app.recorder.max_notification_id()

    await publish(
        js,
        topology.publish_subject(MEDIA_KEPT),
        media_kept(conversation_id, str(uuid4())),
        "unknown-message",
    )
    await publish(
        js,
        topology.publish_subject(MEDIA_KEEP_FAILED),
        media_keep_failed(str(uuid4()), str(uuid4())),
        "unknown-conversation",
    )

    await eventually(lambda: dispatches_settled(js, topology, 2))
    assert service.app.recorder.max_notification_id() == stored_before
    assert await dead_letters(js, topology) == [
        topology.dead_letter_subject("session", "ConversationNotFound")
    ]


async def _has(js: JetStreamContext, topology: Topology, field: str) -> bool:
    return bool(bodies(await relayed(js, topology), field))
