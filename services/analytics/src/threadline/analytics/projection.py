"""The conversation projection: what each session event means for the read models.

Pure: events in, `Changes` out. One function per event body, chosen through a table keyed by
the body's name; bodies the projection does not use (and bodies newer than this code) change
nothing, yet their positions still count as projected.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from threadline.analytics.changes import (
    Changes,
    ContactRow,
    ConversationRow,
    MessageRow,
    ProjectionError,
)
from threadline.contracts.events.v1.common_pb2 import MessageContent
from threadline.contracts.events.v1.session_pb2 import SessionEvent

PROJECTION = "conversations"
PREVIEW_LENGTH = 100

EventProjector = Callable[[SessionEvent, Changes], None]


def project(events: Iterable[SessionEvent]) -> Changes:
    """Fold `events`, in the order given, into the changes they make."""
    changes = Changes()
    for event in events:
        body = event.WhichOneof("body")
        projector = _PROJECTORS.get(body) if body else None
        if projector is not None:
            projector(event, changes)
    return changes


def unseen(events: Iterable[SessionEvent], *, after: int) -> list[SessionEvent]:
    """The events past position `after`, in position order, each position once."""
    fresh: list[SessionEvent] = []
    for event in sorted(events, key=lambda e: e.position):
        if event.position > (fresh[-1].position if fresh else after):
            fresh.append(event)
    return fresh


def _contact_registered(event: SessionEvent, changes: Changes) -> None:
    body = event.contact_registered
    changes.register_contact(
        ContactRow(
            id=_uuid(event.aggregate_id, "contact id"),
            business_number=body.phone_number_id,
            wa_id=body.customer.wa_id,
            user_id=body.customer.user_id,
            name=body.customer.profile_name,
            registered_at=_occurred_at(event),
        )
    )


def _conversation_started(event: SessionEvent, changes: Changes) -> None:
    body = event.conversation_started
    changes.start_conversation(
        ConversationRow(
            id=_uuid(event.aggregate_id, "conversation id"),
            lead_id=_uuid(body.contact_id, "contact_id"),
            business_number=body.phone_number_id,
            session_key=body.session_key,
            channel=body.channel or "whatsapp",
            status="active",
            customer_wa_id=body.customer.wa_id,
            customer_user_id=body.customer.user_id,
            customer_name=body.customer.profile_name,
            created_at=_occurred_at(event),
        )
    )


def _customer_message_received(event: SessionEvent, changes: Changes) -> None:
    body = event.customer_message_received
    metadata = _metadata(body.metadata_json)
    if body.context_wamid:
        metadata.setdefault("context_wamid", body.context_wamid)
    changes.add_message(
        _message(
            event,
            body.message_id,
            body.content,
            role="user",
            author="customer",
            status="received",
            wamid=body.wamid,
            metadata=metadata,
        ),
        preview=_preview(body.content),
    )


def _outbound_message_queued(event: SessionEvent, changes: Changes) -> None:
    body = event.outbound_message_queued
    metadata: dict[str, Any] = {}
    if body.in_reply_to_message_id:
        metadata["in_reply_to"] = body.in_reply_to_message_id
    changes.add_message(
        _message(
            event,
            body.message_id,
            body.content,
            role="assistant",
            author=body.author,
            status="queued",
            metadata=metadata,
        ),
        preview=_preview(body.content),
    )


def _outbound_message_dispatched(event: SessionEvent, changes: Changes) -> None:
    body = event.outbound_message_dispatched
    changes.patch_message(_message_id(body.message_id), _occurred_at(event), wamid=body.wamid)


def _message_status_changed(event: SessionEvent, changes: Changes) -> None:
    body = event.message_status_changed
    metadata: dict[str, Any] = {}
    if body.HasField("pricing"):
        metadata["pricing"] = _as_dict(body.pricing)
    if body.errors:
        metadata["errors"] = [_as_dict(error) for error in body.errors]
    changes.patch_message(
        _message_id(body.message_id), _occurred_at(event), status=body.status, metadata=metadata
    )


def _outbound_message_failed(event: SessionEvent, changes: Changes) -> None:
    body = event.outbound_message_failed
    changes.patch_message(
        _message_id(body.message_id),
        _occurred_at(event),
        status="failed",
        metadata={"error": _as_dict(body.error)},
    )


_PROJECTORS: dict[str, EventProjector] = {
    "contact_registered": _contact_registered,
    "conversation_started": _conversation_started,
    "customer_message_received": _customer_message_received,
    "outbound_message_queued": _outbound_message_queued,
    "outbound_message_dispatched": _outbound_message_dispatched,
    "message_status_changed": _message_status_changed,
    "outbound_message_failed": _outbound_message_failed,
}


def _message(
    event: SessionEvent,
    message_id: str,
    content: MessageContent,
    *,
    role: str,
    author: str,
    status: str,
    wamid: str = "",
    metadata: dict[str, Any],
) -> MessageRow:
    return MessageRow(
        id=_message_id(message_id),
        conversation_id=_uuid(event.aggregate_id, "conversation id"),
        position=event.position,
        role=role,
        author=author,
        type=content.type,
        content=content.text,
        status=status,
        wamid=wamid,
        metadata=metadata,
        created_at=_occurred_at(event),
    )


def _preview(content: MessageContent) -> str:
    if content.text:
        return content.text[:PREVIEW_LENGTH]
    return f"[{content.type}]" if content.type else ""


def _metadata(text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        # Keep what the session recorded rather than lose the message over its metadata.
        return {"unparsed": text}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _as_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


def _uuid(text: str, what: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise ProjectionError(f"{what} {text!r} is not a UUID") from None


def _message_id(text: str) -> str:
    if not text:
        raise ProjectionError("the event names no message_id")
    return text


def _occurred_at(event: SessionEvent) -> datetime:
    if not event.HasField("occurred_at"):
        raise ProjectionError(f"event {event.event_id!r} has no occurred_at")
    return event.occurred_at.ToDatetime(tzinfo=UTC)
