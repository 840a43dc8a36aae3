"""A customer's message, as the AI responder reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from threadline.ai_responder.domain.attachment import Attachment


@dataclass(frozen=True, slots=True)
class Choice:
    """A quick-reply button or list row the customer tapped: its title and the id it was sent
    with (the id the assistant gave it, so the model can tell which option it was)."""

    id: str
    title: str
    description: str = ""

    def as_text(self) -> str:
        """The choice as the model reads it in the conversation."""
        described = f" ({self.description})" if self.description else ""
        return f'[chose "{self.title}"{described}, option id "{self.id}"]'


@dataclass(frozen=True, slots=True)
class CustomerMessage:
    """One message a customer wrote in a conversation.

    `type` is WhatsApp's message type (`text`, `image`, ...); `text` what a person reads of it
    (for a tapped button or list row, the `choice` as text); `customer_name` the profile name
    WhatsApp gave, when it gave one; `attachment` the file of a media message (issue 11)."""

    message_id: str
    conversation_id: str
    type: str
    text: str
    sent_at: datetime
    customer_name: str = ""
    choice: Choice | None = None
    attachment: Attachment | None = None


def choice_in(message_type: str, payload: object) -> Choice | None:
    """The option a customer tapped, when the message (of `message_type`, whose Cloud API object
    is `payload`) is a tap: an interactive `button_reply` or `list_reply`, or a template's quick
    reply (`button`: `text` and `payload`)."""
    if not isinstance(payload, Mapping):
        return None
    if message_type == "button":
        title, key = _string(payload, "text"), _string(payload, "payload")
        return Choice(id=key, title=title or key) if title or key else None
    if message_type != "interactive":
        return None
    kind = payload.get("type")
    reply = payload.get(kind) if kind in ("button_reply", "list_reply") else None
    if not isinstance(reply, Mapping):
        return None
    title, key = _string(reply, "title"), _string(reply, "id")
    if not (title or key):
        return None
    return Choice(id=key, title=title or key, description=_string(reply, "description"))


def _string(value: Mapping[str, object], key: str) -> str:
    found = value.get(key)
    return found.strip() if isinstance(found, str) else ""
