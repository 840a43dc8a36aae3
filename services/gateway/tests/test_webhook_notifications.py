"""What a session event notifies (`threadline.gateway.webhooks.notifications`), pure: the kind
each event becomes, who it goes to, a delivery id that is the same every time, and a signature
a receiver can check with the standard library."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

from threadline.contracts.events.v1 import common_pb2
from threadline.contracts.events.v1 import session_pb2 as pb
from threadline.gateway.webhooks.notifications import (
    AI_FAILED,
    CUSTOMER_WAITING,
    ESCALATED,
    MESSAGE_RECEIVED,
    Subscription,
    body_bytes,
    delivery_id,
    matching,
    notice_of,
    signature,
)


def status_event(event_type: str, status: str, reason: str) -> pb.SessionEvent:
    event = pb.SessionEvent(event_id="e-1", event_type=event_type, aggregate_type="Conversation")
    event.conversation_status_changed.CopyFrom(
        pb.ConversationStatusChanged(status=status, reason=reason, changed_by="ai")
    )
    return event


def subscription(**changes: object) -> Subscription:
    given: dict[str, object] = {
        "subscription_id": "s",
        "phone_number_id": "pn-1",
        "url": "https://hooks.example.com/",
        "secret_ref": "SECRET",
        "events": (ESCALATED, CUSTOMER_WAITING),
        "enabled": True,
    }
    return Subscription(**(given | changes))  # type: ignore[arg-type]


def test_a_hand_off_is_escalated_unless_the_assistant_failed() -> None:
    asked = notice_of(status_event("Conversation.HandedOff", "escalated", "wants a person"))
    failed = notice_of(
        status_event(
            "Conversation.HandedOff",
            "escalated",
            "the assistant is unavailable (openai:gpt-4.1-mini): timeout",
        )
    )
    moved = notice_of(status_event("Conversation.StatusChanged", "escalated", ""))

    assert asked is not None and (asked.kind, asked.data["reason"]) == (ESCALATED, "wants a person")
    assert failed is not None and failed.kind == AI_FAILED
    assert moved is not None and moved.kind == ESCALATED


def test_other_status_changes_and_other_events_notify_nothing() -> None:
    assert notice_of(status_event("Conversation.StatusChanged", "completed", "")) is None
    assert notice_of(status_event("Conversation.AutopilotResumed", "active", "")) is None
    assert notice_of(pb.SessionEvent(event_type="Conversation.Started")) is None


def test_a_customer_message_is_received_with_its_text() -> None:
    event = pb.SessionEvent(event_type="Conversation.CustomerMessageReceived")
    event.customer_message_received.CopyFrom(
        pb.CustomerMessageReceived(
            message_id="m-1", content=common_pb2.MessageContent(type="text", text="Olá")
        )
    )

    notice = notice_of(event)

    assert notice is not None
    assert (notice.kind, notice.data) == (
        MESSAGE_RECEIVED,
        {"message_id": "m-1", "type": "text", "text": "Olá"},
    )


def test_subscriptions_match_by_kind_number_and_enabled() -> None:
    mine, every, off = (
        subscription(subscription_id="mine"),
        subscription(subscription_id="every", phone_number_id="*"),
        subscription(subscription_id="off", enabled=False),
    )

    found = matching([mine, every, off], ESCALATED, "pn-1")

    assert [s.subscription_id for s in found] == ["mine", "every"]
    assert [s.subscription_id for s in matching([mine, every], ESCALATED, "pn-2")] == ["every"]
    assert matching([mine], MESSAGE_RECEIVED, "pn-1") == []
    assert Subscription.from_json(mine.to_json()) == mine


def test_a_delivery_id_is_the_same_for_the_same_event_subscription_and_kind() -> None:
    first = delivery_id("event-1", "s", ESCALATED)

    assert delivery_id("event-1", "s", ESCALATED) == first
    assert (
        len(
            {
                first,
                delivery_id("event-2", "s", ESCALATED),
                delivery_id("event-1", "t", ESCALATED),
                delivery_id("event-1", "s", AI_FAILED),
            }
        )
        == 4
    )


def test_the_signature_is_the_hmac_sha256_of_the_exact_body() -> None:
    body = body_bytes(
        delivery="d-1",
        kind=ESCALATED,
        occurred_at=datetime(2026, 12, 6, 9, 30, tzinfo=UTC),
        subscription_id="s",
        phone_number_id="pn-1",
        conversation_id="c-1",
        data={"reason": "Olá, humano"},
    )

    expected = hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert signature("secret", body) == f"sha256={expected}"
    assert json.loads(body) == {
        "id": "d-1",
        "event": ESCALATED,
        "occurred_at": "2026-12-06T09:30:00+00:00",
        "subscription_id": "s",
        "phone_number_id": "pn-1",
        "conversation_id": "c-1",
        "data": {"reason": "Olá, humano"},
    }
