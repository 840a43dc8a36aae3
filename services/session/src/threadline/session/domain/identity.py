"""Deterministic ids, so that retries and concurrent writers agree on which aggregate is meant."""

from __future__ import annotations

from uuid import UUID, uuid5

NAMESPACE = UUID("5d7c2b8e-3f0a-4c51-9a57-0e3c1f1f6a10")


def contact_id(phone_number_id: str, wa_id: str, user_id: str) -> UUID:
    """The contact of a customer on a business number.

    The `wa_id` is preferred, else the business-scoped user id (BSUID); linking a contact first
    seen by one and later by both is the session's identity work still to come.
    """
    key = f"wa:{wa_id}" if wa_id else f"bsuid:{user_id}"
    return uuid5(NAMESPACE, f"contact:{phone_number_id}:{key}")


def inbound_message_id(wamid: str) -> UUID:
    return uuid5(NAMESPACE, f"inbound:{wamid}")


def drafted_message_id(draft_id: str) -> UUID:
    return uuid5(NAMESPACE, f"draft:{draft_id}")


def requested_message_id(conversation_id: UUID, idempotency_key: str) -> UUID:
    return uuid5(NAMESPACE, f"request:{conversation_id}:{idempotency_key}")
