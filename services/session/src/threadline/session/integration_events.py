"""Stored domain events → `SessionEvent` protos on `session.events.<Aggregate>.<Event>`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from google.protobuf.timestamp_pb2 import Timestamp

from threadline.contracts.events.v1 import common_pb2
from threadline.contracts.events.v1 import session_pb2 as pb
from threadline.messaging.relay import OutboxRecord
from threadline.messaging.topology import Topology
from threadline.session.domain.identity import NAMESPACE

Body = Callable[[Any, pb.SessionEvent], None]


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def content(value: dict[str, str]) -> common_pb2.MessageContent:
    return common_pb2.MessageContent(
        type=value.get("type", ""),
        text=value.get("text", ""),
        payload_json=value.get("payload_json", ""),
    )


def _registered(e: Any, out: pb.SessionEvent) -> None:
    out.contact_registered.phone_number_id = e.phone_number_id
    out.contact_registered.customer.CopyFrom(
        common_pb2.CustomerIdentity(wa_id=e.wa_id, user_id=e.user_id, profile_name=e.profile_name)
    )


def _opened(e: Any, out: pb.SessionEvent) -> None:
    out.contact_conversation_opened.conversation_id = str(e.conversation_id)


def _started(e: Any, out: pb.SessionEvent) -> None:
    out.conversation_started.CopyFrom(
        pb.ConversationStarted(
            contact_id=str(e.contact_id),
            phone_number_id=e.phone_number_id,
            session_key=e.session_key,
            channel=e.channel,
            customer=common_pb2.CustomerIdentity(
                wa_id=e.customer_wa_id, user_id=e.customer_user_id, profile_name=e.customer_name
            ),
        )
    )


def _received(e: Any, out: pb.SessionEvent) -> None:
    out.customer_message_received.CopyFrom(
        pb.CustomerMessageReceived(
            message_id=str(e.message_id),
            wamid=e.wamid,
            content=content(e.content),
            sent_at=timestamp(e.sent_at),
            context_wamid=e.context_wamid,
            metadata_json=json.dumps(e.metadata, sort_keys=True),
        )
    )


def _queued(e: Any, out: pb.SessionEvent) -> None:
    out.outbound_message_queued.CopyFrom(
        pb.OutboundMessageQueued(
            message_id=str(e.message_id),
            author=e.author,
            content=content(e.content),
            in_reply_to_message_id=e.in_reply_to,
            phone_number_id=e.phone_number_id,
            recipient=common_pb2.CustomerIdentity(
                wa_id=e.recipient_wa_id, user_id=e.recipient_user_id
            ),
        )
    )


def _dispatched(e: Any, out: pb.SessionEvent) -> None:
    out.outbound_message_dispatched.CopyFrom(
        pb.OutboundMessageDispatched(message_id=str(e.message_id), wamid=e.wamid)
    )


def _status_changed(e: Any, out: pb.SessionEvent) -> None:
    body = out.message_status_changed
    body.message_id, body.wamid, body.status = str(e.message_id), e.wamid, e.status
    body.reported_at.CopyFrom(timestamp(e.reported_at))
    pricing = e.pricing or {}
    body.pricing.CopyFrom(
        common_pb2.Pricing(
            billable=bool(pricing.get("billable", False)),
            category=str(pricing.get("category", "")),
            pricing_model=str(pricing.get("pricing_model", "")),
            type=str(pricing.get("type", "")),
        )
    )
    for error in e.errors:
        body.errors.add(
            code=int(error.get("code", 0)),
            title=str(error.get("title", "")),
            message=str(error.get("message", "")),
            details=str(error.get("details", "")),
        )


def _held(e: Any, out: pb.SessionEvent) -> None:
    out.status_reported_early.CopyFrom(
        pb.StatusReportedEarly(wamid=e.wamid, status=e.status, reported_at=timestamp(e.reported_at))
    )


def _failed(e: Any, out: pb.SessionEvent) -> None:
    out.outbound_message_failed.message_id = str(e.message_id)
    out.outbound_message_failed.error.CopyFrom(
        common_pb2.WhatsAppError(code=e.code, title=e.title, details=e.detail)
    )


# Keyed by `Aggregate.Event` (the event classes are made by the `@event` decorator).
BODIES: dict[str, Body] = {
    "Contact.Registered": _registered,
    "Contact.ConversationOpened": _opened,
    "Conversation.Started": _started,
    "Conversation.CustomerMessageReceived": _received,
    "Conversation.OutboundMessageQueued": _queued,
    "Conversation.OutboundMessageDispatched": _dispatched,
    "Conversation.MessageStatusChanged": _status_changed,
    "Conversation.OutboundMessageFailed": _failed,
    "Conversation.StatusReportedEarly": _held,
}


def event_id(originator_id: UUID, version: int) -> str:
    return str(uuid5(NAMESPACE, f"event:{originator_id}:{version}"))


def to_session_event(domain_event: Any, position: int) -> tuple[str, str, pb.SessionEvent]:
    """The aggregate name, event name and protobuf envelope of one stored event."""
    aggregate, name = type(domain_event).__qualname__.split(".")[-2:]
    envelope = pb.SessionEvent(
        event_id=event_id(domain_event.originator_id, domain_event.originator_version),
        position=position,
        aggregate_type=aggregate,
        aggregate_id=str(domain_event.originator_id),
        aggregate_version=domain_event.originator_version,
        occurred_at=timestamp(domain_event.timestamp),
    )
    BODIES[f"{aggregate}.{name}"](domain_event, envelope)
    return aggregate, name, envelope


def to_outbox_record(domain_event: Any, position: int, topology: Topology) -> OutboxRecord:
    aggregate, name, envelope = to_session_event(domain_event, position)
    trace = getattr(domain_event, "trace", "")
    return OutboxRecord(
        position=position,
        subject=topology.subject("session.events", aggregate, name),
        payload=envelope.SerializeToString(),
        msg_id=envelope.event_id,
        headers={"traceparent": trace} if trace else {},
    )
