"""A customer's message, as the AI responder reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CustomerMessage:
    """One message a customer wrote in a conversation.

    `type` is WhatsApp's message type (`text`, `image`, ...); `text` what a person reads of it;
    `customer_name` the profile name WhatsApp gave, when it gave one."""

    message_id: str
    conversation_id: str
    type: str
    text: str
    sent_at: datetime
    customer_name: str = ""
