"""What the AI responder may answer a customer's message with: a reply, a hand-off to a person.

Both are proposals: the session decides whether a draft is sent and whether the conversation is
escalated. Their ids derive from the message answered, so a redelivered message gives the same
ids (and the streams keep each once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from threadline.ai_responder.domain.customer_message import CustomerMessage

HAND_OFF_REASON = "the customer asked for a person"


@dataclass(frozen=True, slots=True)
class ReplyDraft:
    """A text reply to `in_reply_to_message_id`, written by `model`."""

    draft_id: str
    conversation_id: str
    in_reply_to_message_id: str
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    drafted_at: datetime

    @classmethod
    def answering(
        cls,
        message: CustomerMessage,
        *,
        text: str,
        model: str,
        tokens: tuple[int, int],
        at: datetime,
    ) -> ReplyDraft:
        """The draft answering `message`; `tokens` are the prompt's and the completion's."""
        prompt_tokens, completion_tokens = tokens
        return cls(
            draft_id=f"draft-{message.message_id}",
            conversation_id=message.conversation_id,
            in_reply_to_message_id=message.message_id,
            text=text,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            drafted_at=at,
        )


@dataclass(frozen=True, slots=True)
class HandOffRequest:
    """The conversation should go to a person, for `reason`."""

    request_id: str
    conversation_id: str
    reason: str
    requested_at: datetime

    @classmethod
    def after(cls, message: CustomerMessage, *, at: datetime) -> HandOffRequest:
        """The request `message` (which asks for a person) makes."""
        return cls(
            request_id=f"hand-off-{message.message_id}",
            conversation_id=message.conversation_id,
            reason=HAND_OFF_REASON,
            requested_at=at,
        )
