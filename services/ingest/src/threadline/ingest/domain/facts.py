"""The facts a webhook gives, and what it holds that gives none.

A fact is what WhatsApp told us, one message, status or error at a time: `InboundMessageReceived`,
`MessageStatusReported`, `WebhookErrorReported` (the names of the integration events they become,
`adapters/integration_events.py`). Each carries its object as cleaned JSON (`raw_json`) and what
cleaning changed (`problems`), and `msg_id`, the id that makes a webhook delivered again give the
same facts (JetStream keeps each once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CustomerIdentity:
    """Who a customer is: phone number (`wa_id`), business-scoped user id (`user_id`), name."""

    wa_id: str = ""
    user_id: str = ""
    profile_name: str = ""


@dataclass(frozen=True, slots=True)
class MessageContent:
    """A message's type, what a person reads of it, and the type's own object as JSON."""

    type: str
    text: str
    payload_json: str


@dataclass(frozen=True, slots=True)
class WhatsAppError:
    code: int = 0
    title: str = ""
    message: str = ""
    details: str = ""


@dataclass(frozen=True, slots=True)
class Pricing:
    billable: bool = False
    category: str = ""
    pricing_model: str = ""
    type: str = ""


@dataclass(frozen=True, slots=True)
class ParsedFact:
    """One fact of a webhook: from which business number, under which id."""

    phone_number_id: str
    msg_id: str
    raw_json: str
    problems: tuple[str, ...]

    @property
    def name(self) -> str:
        """`InboundMessageReceived`, `MessageStatusReported` or `WebhookErrorReported`."""
        return type(self).__name__


@dataclass(frozen=True, slots=True)
class InboundMessageReceived(ParsedFact):
    """A customer's message; `msg_id` is its wamid."""

    wamid: str
    display_phone_number: str
    customer: CustomerIdentity
    content: MessageContent
    sent_at: datetime  # WhatsApp's timestamp, within the window around `received_at`
    received_at: datetime
    context_wamid: str  # the message this one replies to


@dataclass(frozen=True, slots=True)
class MessageStatusReported(ParsedFact):
    """What became of a message we sent (sent, delivered, read, played, failed)."""

    wamid: str
    status: str
    recipient: CustomerIdentity
    reported_at: datetime
    errors: tuple[WhatsAppError, ...]
    pricing: Pricing | None


@dataclass(frozen=True, slots=True)
class WebhookErrorReported(ParsedFact):
    """An error WhatsApp reported about the business number, not about one message."""

    error: WhatsAppError
    received_at: datetime


@dataclass(frozen=True, slots=True)
class IgnoredPart:
    """A change of the webhook that gives no fact, and why (for the log)."""

    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class RejectedPart:
    """A part of the webhook (at `path`) that gives no fact and must be dead-lettered."""

    path: str
    reason: str
    slug: str


@dataclass(frozen=True, slots=True)
class ParsedWebhook:
    facts: tuple[ParsedFact, ...]
    ignored: tuple[IgnoredPart, ...]
    rejected: tuple[RejectedPart, ...] = ()
