"""Announcements on OUTBOUND_EVENTS: `MessageDispatched`, `MessageDispatchFailed`.

Each message's result has one `Nats-Msg-Id` per kind, so announcing it again (a redelivery
found in the sent ledger) is dropped by the stream within its duplicate window."""

from __future__ import annotations

from datetime import datetime

from threadline.messaging.bus import EventBus
from threadline.messaging.topology import MESSAGE_DISPATCH_FAILED, MESSAGE_DISPATCHED, Topology
from threadline.outbound.adapters.integration_events import (
    message_dispatch_failed,
    message_dispatched,
)
from threadline.outbound.application.ports import SentRecord
from threadline.outbound.domain.failure import WhatsAppFailure
from threadline.outbound.domain.outbound_message import OutboundMessage


class JetStreamAnnouncements:
    """`Announcements` over an `EventBus`."""

    def __init__(self, bus: EventBus, topology: Topology) -> None:
        self._bus = bus
        self._dispatched = topology.publish_subject(MESSAGE_DISPATCHED)
        self._dispatch_failed = topology.publish_subject(MESSAGE_DISPATCH_FAILED)

    async def message_dispatched(self, message: OutboundMessage, sent: SentRecord) -> None:
        await self._bus.publish(
            self._dispatched,
            message_dispatched(message, wamid=sent.wamid, at=sent.sent_at),
            msg_id=dispatched_msg_id(message),
        )

    async def message_dispatch_failed(
        self, message: OutboundMessage, failure: WhatsAppFailure, *, at: datetime
    ) -> None:
        await self._bus.publish(
            self._dispatch_failed,
            message_dispatch_failed(message, failure, at=at),
            msg_id=failed_msg_id(message),
        )


def dispatched_msg_id(message: OutboundMessage) -> str:
    return f"{message.message_id}:dispatched"


def failed_msg_id(message: OutboundMessage) -> str:
    return f"{message.message_id}:failed"
