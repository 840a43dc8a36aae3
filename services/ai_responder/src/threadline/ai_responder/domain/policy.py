"""Whether the assistant should answer a customer message at all, and when a person should.

Some messages are recorded but not answered: stickers, reactions, system notices (a customer
changed number, ...), types WhatsApp could not deliver to us (`unsupported`, `unknown`), and
messages older than the stale limit (Meta redelivering after an outage). Answering them annoys
the customer and inflates the response rate. A tapped button or list row IS answered: it is the
customer's choice."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final

from threadline.ai_responder.domain.customer_message import CustomerMessage

PERSON = re.compile(
    r"\b(human|real person|a person|agent|representative|someone real|atendente|humano)\b", re.I
)
# WhatsApp message types recorded without an answer, and how a log names them.
NOT_ANSWERED: Final = {
    "sticker": "a sticker",
    "reaction": "a reaction",
    "system": "a system notice",
    "unsupported": "a message type WhatsApp does not support",
    "unknown": "a message type WhatsApp does not support",
}


def is_stale(sent_at: datetime, now: datetime, *, stale_after: timedelta) -> bool:
    """A message redelivered by Meta days after an outage is not answered automatically."""
    return now - sent_at > stale_after


def why_not_answered(message: CustomerMessage, now: datetime, *, stale_after: timedelta) -> str:
    """Why `message` is recorded but not answered; "" when the assistant answers it."""
    if (what := NOT_ANSWERED.get(message.type)) is not None:
        return f"{what} is recorded, not answered"
    if is_stale(message.sent_at, now, stale_after=stale_after):
        return f"stale: sent more than {stale_after} ago"
    return ""


def asks_for_a_person(text: str) -> bool:
    return PERSON.search(text) is not None


def wants_a_person(message: CustomerMessage) -> bool:
    """A text asking for a person: the conversation is handed off (after the reply)."""
    return message.type == "text" and asks_for_a_person(message.text)
