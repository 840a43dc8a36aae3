"""Whether the assistant should answer a customer message at all, and when a person should."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from threadline.ai_responder.domain.customer_message import CustomerMessage

PERSON = re.compile(
    r"\b(human|real person|a person|agent|representative|someone real|atendente|humano)\b", re.I
)


def is_stale(sent_at: datetime, now: datetime, *, stale_after: timedelta) -> bool:
    """A message redelivered by Meta days after an outage is not answered automatically."""
    return now - sent_at > stale_after


def asks_for_a_person(text: str) -> bool:
    return PERSON.search(text) is not None


def wants_a_person(message: CustomerMessage) -> bool:
    """A text asking for a person: the conversation is handed off (after the reply)."""
    return message.type == "text" and asks_for_a_person(message.text)
