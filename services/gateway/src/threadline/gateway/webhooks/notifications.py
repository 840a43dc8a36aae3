"""What a session event notifies, pure: its kind, the subscriptions it goes to, its delivery id,
its JSON body and the body's signature.

Kinds (what a subscription's `events` names):

- `conversation.escalated`: a conversation handed to a person (`Conversation.HandedOff`), or
  moved to escalated by an operator (`Conversation.StatusChanged`).
- `conversation.ai_failed`: a hand-off because the assistant could not answer (the AI
  responder's "the assistant is unavailable ..." reason): this kind instead of the one above.
- `message.received`: a customer's message (`Conversation.CustomerMessageReceived`).
- `customer.waiting`: a customer message left without any reply for the threshold (found by
  `delivery`'s timer, not by one event).

A delivery id is derived from the event's id, the subscription and the kind, so the same event
redelivered (or read again by another gateway) is the same delivery: sent at most once by the
sender (`delivery` keeps the ids it delivered) and recognisable by the receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from threadline.contracts.events.v1 import session_pb2 as pb

ESCALATED = "conversation.escalated"
AI_FAILED = "conversation.ai_failed"
MESSAGE_RECEIVED = "message.received"
CUSTOMER_WAITING = "customer.waiting"
KINDS = (ESCALATED, AI_FAILED, MESSAGE_RECEIVED, CUSTOMER_WAITING)
EVERY_NUMBER = "*"
# How the AI responder words a hand-off when its model failed (`responder.py`).
AI_FAILURE_REASON = "the assistant is unavailable"
_NAMESPACE = UUID("5d7f0c53-0d4b-4a5e-9f61-1b0c6e0a9c13")

EVENT_HEADER = "X-Threadline-Event"
DELIVERY_HEADER = "X-Threadline-Delivery"
SIGNATURE_HEADER = "X-Threadline-Signature-256"


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscription as its last `WebhookSubscriptionConfigured` says."""

    subscription_id: str
    phone_number_id: str
    url: str
    secret_ref: str
    events: tuple[str, ...]
    enabled: bool
    version: int = 0  # the session's: 1, 2, ... one per change

    @classmethod
    def of(cls, body: pb.WebhookSubscriptionConfigured) -> Subscription:
        return cls(
            subscription_id=body.subscription_id,
            phone_number_id=body.phone_number_id,
            url=body.url,
            secret_ref=body.secret_ref,
            events=tuple(body.events),
            enabled=body.enabled and not body.removed,
            version=body.version,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "subscription_id": self.subscription_id,
            "phone_number_id": self.phone_number_id,
            "url": self.url,
            "secret_ref": self.secret_ref,
            "events": list(self.events),
            "enabled": self.enabled,
            "version": self.version,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Subscription:
        return cls(
            subscription_id=str(value["subscription_id"]),
            phone_number_id=str(value["phone_number_id"]),
            url=str(value["url"]),
            secret_ref=str(value["secret_ref"]),
            events=tuple(value["events"]),
            enabled=bool(value["enabled"]),
            version=int(value.get("version", 0)),
        )

    def wants(self, kind: str, phone_number_id: str) -> bool:
        return (
            self.enabled
            and kind in self.events
            and self.phone_number_id in (EVERY_NUMBER, phone_number_id)
        )


@dataclass(frozen=True, slots=True)
class Notice:
    """What one session event tells subscribers: its kind and the kind's own data."""

    kind: str
    data: dict[str, Any]


def notice_of(event: pb.SessionEvent) -> Notice | None:
    """The notice `event` gives, if any (a conversation's event; `customer.waiting` excepted)."""
    body = event.WhichOneof("body")
    if event.event_type == "Conversation.HandedOff" and body == "conversation_status_changed":
        change = event.conversation_status_changed
        kind = AI_FAILED if change.reason.startswith(AI_FAILURE_REASON) else ESCALATED
        return Notice(
            kind, {"status": "escalated", "reason": change.reason, "by": change.changed_by}
        )
    if event.event_type == "Conversation.StatusChanged" and body == "conversation_status_changed":
        change = event.conversation_status_changed
        if change.status == "escalated":
            return Notice(
                ESCALATED, {"status": "escalated", "reason": change.reason, "by": change.changed_by}
            )
        return None
    if body == "customer_message_received":
        received = event.customer_message_received
        return Notice(
            MESSAGE_RECEIVED,
            {
                "message_id": received.message_id,
                "type": received.content.type,
                "text": received.content.text,
            },
        )
    return None


def delivery_id(source_event_id: str, subscription_id: str, kind: str) -> str:
    """The same for the same event, subscription and kind, whoever computes it, whenever."""
    return str(uuid5(_NAMESPACE, f"{source_event_id}\n{subscription_id}\n{kind}"))


def matching(
    subscriptions: Iterable[Subscription], kind: str, phone_number_id: str
) -> list[Subscription]:
    return [s for s in subscriptions if s.wants(kind, phone_number_id)]


def body_bytes(
    *,
    delivery: str,
    kind: str,
    occurred_at: datetime,
    subscription_id: str,
    phone_number_id: str,
    conversation_id: str,
    data: Mapping[str, Any],
) -> bytes:
    """The JSON POSTed: the same bytes are signed and sent (and sent again on a retry)."""
    return json.dumps(
        {
            "id": delivery,
            "event": kind,
            "occurred_at": occurred_at.isoformat(),
            "subscription_id": subscription_id,
            "phone_number_id": phone_number_id,
            "conversation_id": conversation_id,
            "data": dict(data),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the body under the secret>`, as GitHub and Meta sign."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"
