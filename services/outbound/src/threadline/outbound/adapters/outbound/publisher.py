"""Announcements on OUTBOUND_EVENTS: `MessageDispatched`, `MessageDispatchFailed`, and of a
customer's media `MediaKept`, `MediaKeepFailed`; on INGEST_EVENTS the statuses of the test
chat's messages (`MessageStatusReported`, where ingest puts WhatsApp's).

Each message's result has one `Nats-Msg-Id` per kind, so announcing it again (a redelivery
found in the sent ledger) is dropped by the stream within its duplicate window."""

from __future__ import annotations

from datetime import datetime

from threadline.media import StoredMedia
from threadline.messaging.bus import EventBus
from threadline.messaging.topology import (
    MEDIA_KEEP_FAILED,
    MEDIA_KEPT,
    MESSAGE_DISPATCH_FAILED,
    MESSAGE_DISPATCHED,
    MESSAGE_STATUS_REPORTED,
    Topology,
)
from threadline.outbound.adapters.integration_events import (
    chat_status_reported,
    media_keep_failed,
    media_kept,
    message_dispatch_failed,
    message_dispatched,
)
from threadline.outbound.application.ports import SentRecord
from threadline.outbound.domain.failure import WhatsAppFailure
from threadline.outbound.domain.inbound_media import InboundMedia
from threadline.outbound.domain.outbound_message import OutboundMessage


class JetStreamAnnouncements:
    """`Announcements` over an `EventBus`."""

    def __init__(self, bus: EventBus, topology: Topology) -> None:
        self._bus = bus
        self._topology = topology

    async def message_dispatched(self, message: OutboundMessage, sent: SentRecord) -> None:
        await self._bus.publish(
            self._topology.conversation_subject(MESSAGE_DISPATCHED, message.conversation_id),
            message_dispatched(message, wamid=sent.wamid, at=sent.sent_at, media_id=sent.media_id),
            msg_id=dispatched_msg_id(message),
        )

    async def message_dispatch_failed(
        self, message: OutboundMessage, failure: WhatsAppFailure, *, at: datetime
    ) -> None:
        await self._bus.publish(
            self._topology.conversation_subject(MESSAGE_DISPATCH_FAILED, message.conversation_id),
            message_dispatch_failed(message, failure, at=at),
            msg_id=failed_msg_id(message),
        )

    async def chat_status(
        self, message: OutboundMessage, sent: SentRecord, status: str, *, at: datetime
    ) -> None:
        subject = self._topology.conversation_subject(
            MESSAGE_STATUS_REPORTED,
            message.conversation_id,
            phone_number_id=message.phone_number_id,
        )
        await self._bus.publish(
            subject,
            chat_status_reported(message, sent.wamid, status, at=at),
            msg_id=f"{sent.wamid}:{status}",
        )


def dispatched_msg_id(message: OutboundMessage) -> str:
    return f"{message.message_id}:dispatched"


def failed_msg_id(message: OutboundMessage) -> str:
    return f"{message.message_id}:failed"


class JetStreamMediaAnnouncements:
    """`MediaAnnouncements` over an `EventBus`."""

    def __init__(self, bus: EventBus, topology: Topology) -> None:
        self._bus = bus
        self._topology = topology

    async def media_kept(self, media: InboundMedia, stored: StoredMedia, *, at: datetime) -> None:
        await self._bus.publish(
            self._topology.conversation_subject(MEDIA_KEPT, media.conversation_id),
            media_kept(media, stored, at=at),
            msg_id=f"{media.message_id}:media-kept",
        )

    async def media_keep_failed(
        self, media: InboundMedia, reason: str, *, refused: bool, attempts: int, at: datetime
    ) -> None:
        await self._bus.publish(
            self._topology.conversation_subject(MEDIA_KEEP_FAILED, media.conversation_id),
            media_keep_failed(media, reason, refused=refused, attempts=attempts, at=at),
            msg_id=f"{media.message_id}:media-failed",
        )
