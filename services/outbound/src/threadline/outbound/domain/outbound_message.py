"""A message the session accepted and queued, as outbound needs it to reach WhatsApp."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.media import StoredMedia


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
class ReplyPlace:
    """A message's place in a reply of several: `part` from 0 of `parts`. Part n > 0 is sent
    only once part n - 1 was accepted (or failed for good), a pause after it."""

    reply_id: str
    part: int
    parts: int

    @property
    def previous(self) -> ReplyPlace | None:
        if self.part == 0:
            return None
        return ReplyPlace(self.reply_id, self.part - 1, self.parts)

    @property
    def key(self) -> str:
        """The name its progress is recorded under (beside the message ids of the ledger)."""
        return f"reply:{self.reply_id}:{self.part}"


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
    # An operator's file from the media store (issue 11 item 5): uploaded to the Graph API when
    # sent, and sent by the id it gets there (`content.type` is its WhatsApp type).
    media: StoredMedia | None = None
    # Its place in a reply of several (attachments, then the text; issue 11 item 6).
    reply: ReplyPlace | None = None
    quoted_wamid: str = ""
