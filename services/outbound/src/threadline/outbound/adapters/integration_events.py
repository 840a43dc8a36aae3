"""The one place mapping outbound's types to and from integration events (protobuf): the queued
message it consumes (a session event), the typing indicator the assistant asks for
(`TypingIndicatorRequested`), the customer's media it keeps (`CustomerMessageReceived`), the
results it publishes (`MessageDispatched`, `MessageDispatchFailed`, `MediaKept`,
`MediaKeepFailed`), and the statuses of the test chat's messages (`MessageStatusReported`, as
ingest reports WhatsApp's)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from threadline.contracts.events.v1 import ai_pb2, common_pb2, ingest_pb2, outbound_pb2, session_pb2
from threadline.media import StoredMedia
from threadline.outbound.domain.failure import WhatsAppFailure
from threadline.outbound.domain.inbound_media import (
    MEDIA_TYPES,
    InboundMedia,
    NotMedia,
    inbound_media,
)
from threadline.outbound.domain.outbound_message import (
    MessageContent,
    OutboundMessage,
    Recipient,
    ReplyPlace,
)
from threadline.outbound.domain.typing_indicator import TypingIndicatorRequest


class Undecodable(ValueError):
    """The payload is not the event it should be, or lacks what outbound needs of it."""


def queued_message(data: bytes) -> OutboundMessage:
    """The message an `OutboundMessageQueued` session event's payload queues."""
    try:
        event = session_pb2.SessionEvent.FromString(data)
    except DecodeError as error:
        raise Undecodable(f"not a SessionEvent: {error}") from None
    if event.WhichOneof("body") != "outbound_message_queued":
        raise Undecodable(f"SessionEvent {event.event_id!r} is not an outbound_message_queued")
    queued = event.outbound_message_queued
    if not queued.message_id:
        raise Undecodable(f"SessionEvent {event.event_id!r} queues a message without an id")
    return OutboundMessage(
        message_id=queued.message_id,
        conversation_id=event.aggregate_id,
        phone_number_id=queued.phone_number_id,
        recipient=Recipient(wa_id=queued.recipient.wa_id, user_id=queued.recipient.user_id),
        content=MessageContent(
            type=queued.content.type,
            text=queued.content.text,
            payload_json=queued.content.payload_json,
        ),
        author=queued.author,
        in_reply_to_message_id=queued.in_reply_to_message_id,
        quoted_wamid=queued.quoted_wamid,
        media=_stored_media(queued.media) if queued.HasField("media") else None,
        reply=(
            ReplyPlace(queued.reply_id, queued.reply_part, queued.reply_parts)
            if queued.reply_id
            else None
        ),
    )


def _stored_media(media: common_pb2.StoredMedia) -> StoredMedia:
    return StoredMedia(
        location=media.location,
        sha256=media.sha256,
        size=media.size,
        content_type=media.content_type,
        file_name=media.file_name,
    )


def customer_media(data: bytes) -> InboundMedia | None:
    """The media a `CustomerMessageReceived` session event's message carries; None for a text
    or any other message without a file."""
    try:
        event = session_pb2.SessionEvent.FromString(data)
    except DecodeError as error:
        raise Undecodable(f"not a SessionEvent: {error}") from None
    if event.WhichOneof("body") != "customer_message_received":
        raise Undecodable(f"SessionEvent {event.event_id!r} is not a customer_message_received")
    received = event.customer_message_received
    if received.content.type not in MEDIA_TYPES:
        return None
    if not received.message_id:
        raise Undecodable(f"SessionEvent {event.event_id!r} records a message without an id")
    try:
        payload = json.loads(received.content.payload_json or "null")
    except ValueError:
        payload = None
    try:
        return inbound_media(
            message_id=received.message_id,
            conversation_id=event.aggregate_id,
            media_type=received.content.type,
            payload=payload,
        )
    except NotMedia as error:
        raise Undecodable(str(error)) from None


def typing_indicator_requested(data: bytes) -> TypingIndicatorRequest:
    """The request a `TypingIndicatorRequested` payload carries."""
    try:
        event = ai_pb2.TypingIndicatorRequested.FromString(data)
    except DecodeError as error:
        raise Undecodable(f"not a TypingIndicatorRequested: {error}") from None
    missing = [
        name for name in ("request_id", "phone_number_id", "wamid") if not getattr(event, name)
    ]
    if not event.HasField("requested_at"):
        missing.append("requested_at")
    if missing:
        raise Undecodable(
            f"TypingIndicatorRequested {event.request_id!r} lacks {', '.join(missing)}"
        )
    return TypingIndicatorRequest(
        request_id=event.request_id,
        conversation_id=event.conversation_id,
        phone_number_id=event.phone_number_id,
        wamid=event.wamid,
        requested_at=event.requested_at.ToDatetime(tzinfo=UTC),
    )


def message_dispatched(
    message: OutboundMessage, *, wamid: str, at: datetime, media_id: str = ""
) -> outbound_pb2.MessageDispatched:
    return outbound_pb2.MessageDispatched(
        message_id=message.message_id,
        conversation_id=message.conversation_id,
        wamid=wamid,
        dispatched_at=_timestamp(at),
        media_id=media_id,
    )


def message_dispatch_failed(
    message: OutboundMessage, failure: WhatsAppFailure, *, at: datetime
) -> outbound_pb2.MessageDispatchFailed:
    return outbound_pb2.MessageDispatchFailed(
        message_id=message.message_id,
        conversation_id=message.conversation_id,
        error=common_pb2.WhatsAppError(
            code=failure.code,
            title=failure.title,
            message=failure.message,
            details=failure.details,
        ),
        retryable=failure.retryable,
        failed_at=_timestamp(at),
    )


def media_kept(media: InboundMedia, stored: StoredMedia, *, at: datetime) -> outbound_pb2.MediaKept:
    return outbound_pb2.MediaKept(
        message_id=media.message_id,
        conversation_id=media.conversation_id,
        media_id=media.media_id,
        media_type=media.media_type,
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
        file_name=media.file_name,
        caption=media.caption,
        voice=media.voice,
        location=stored.location,
        kept_at=_timestamp(at),
    )


def media_keep_failed(
    media: InboundMedia, reason: str, *, refused: bool, attempts: int, at: datetime
) -> outbound_pb2.MediaKeepFailed:
    return outbound_pb2.MediaKeepFailed(
        message_id=media.message_id,
        conversation_id=media.conversation_id,
        media_id=media.media_id,
        media_type=media.media_type,
        reason=reason,
        refused=refused,
        attempts=attempts,
        failed_at=_timestamp(at),
    )


def chat_status_reported(
    message: OutboundMessage, wamid: str, status: str, *, at: datetime
) -> ingest_pb2.MessageStatusReported:
    """A status of a message to a tester (the test chat), as ingest reports WhatsApp's."""
    return ingest_pb2.MessageStatusReported(
        wamid=wamid,
        phone_number_id=message.phone_number_id,
        status=status,
        recipient=common_pb2.CustomerIdentity(
            wa_id=message.recipient.wa_id, user_id=message.recipient.user_id
        ),
        reported_at=_timestamp(at),
    )


def _timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp
