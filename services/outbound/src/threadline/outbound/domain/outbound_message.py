"""A message the session accepted and queued, as outbound needs it to reach WhatsApp."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Recipient:
    """The customer: a phone-derived `wa_id`, a business-scoped `user_id` (BSUID), or both."""

    wa_id: str = ""
    user_id: str = ""


@dataclass(frozen=True, slots=True)
class MessageContent:
    """`type` is WhatsApp's; `payload_json` the type's own object, `text` the readable body."""

    type: str
    text: str = ""
    payload_json: str = ""


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message the session accepted and queued; `message_id` is Threadline's own id;
    `quoted_wamid` the WhatsApp id of the earlier message it answers, shown quoted ("" for
    none)."""

    message_id: str
    conversation_id: str
    phone_number_id: str
    recipient: Recipient
    content: MessageContent
    author: str = ""
    in_reply_to_message_id: str = ""
    quoted_wamid: str = ""
