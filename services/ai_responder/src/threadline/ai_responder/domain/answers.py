"""What the AI responder may answer a customer's message with: a reply, a hand-off to a person.

Both are proposals: the session decides whether a draft is sent and whether the conversation is
escalated. Their ids derive from the message answered, so a redelivered message gives the same
ids (and the streams keep each once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from threadline.ai_responder.domain.citations import Citation
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.reply_format import Reply, as_message_content

HAND_OFF_REASON = "the customer asked for a person"


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens as the provider reports them; `input_tokens` includes `cached_tokens`."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0


NO_USAGE = Usage(0, 0)


@dataclass(frozen=True, slots=True)
class Producer:
    """Who produced an answer and what it cost: the assistant (name and configuration version;
    "" and 0 for the platform's own keyword path) and its model (`provider:model`), the tokens
    as the provider reported them, the model's time, and the price of the tokens (USD; None
    when the price table does not know the model)."""

    model: str
    usage: Usage
    latency_seconds: float = 0.0
    assistant: str = ""
    assistant_version: int = 0
    cost: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ReplyDraft:
    """A reply to `in_reply_to_message_id` in one of WhatsApp's formats, written by `model`
    (`provider:model`) in `latency_seconds`, at the cost of `usage`; `covered_message_ids` are
    the customer messages it answers (a burst, oldest first, ending with
    `in_reply_to_message_id`); `interpretation` is what the model said it saw in the images
    it was shown ("" when it was shown none); `citations` are the knowledge-base passages it
    says it used (only passages it was given; domain/citations.py)."""

    draft_id: str
    conversation_id: str
    in_reply_to_message_id: str
    reply: Reply
    model: str
    usage: Usage
    latency_seconds: float
    drafted_at: datetime
    assistant: str = ""
    assistant_version: int = 0
    cost: Decimal | None = None
    covered_message_ids: tuple[str, ...] = ()
    interpretation: str = ""
    quoted_message_id: str = ""  # the customer message it quotes (domain/quoting.py); "" none
    citations: tuple[Citation, ...] = ()
    author: str = "ai"  # or "flow": a flow's step wrote it (application/flow_running.py)

    @classmethod
    def answering(
        cls,
        message: CustomerMessage,
        *,
        reply: Reply,
        model: str,
        usage: Usage,
        latency_seconds: float,
        at: datetime,
    ) -> ReplyDraft:
        """The draft answering `message`."""
        return cls(
            draft_id=f"draft-{message.message_id}",
            conversation_id=message.conversation_id,
            in_reply_to_message_id=message.message_id,
            reply=reply,
            model=model,
            usage=usage,
            latency_seconds=latency_seconds,
            drafted_at=at,
        )

    @property
    def content(self) -> tuple[str, str, str]:
        """(type, text, payload_json) as the session stores the message and outbound sends it."""
        return as_message_content(self.reply)


@dataclass(frozen=True, slots=True)
class HandOffRequest:
    """The conversation should go to a person, for `reason` (the operator reads it)."""

    request_id: str
    conversation_id: str
    reason: str
    requested_at: datetime

    @classmethod
    def after(
        cls, message: CustomerMessage, *, at: datetime, reason: str = HAND_OFF_REASON
    ) -> HandOffRequest:
        """The request answering `message` makes, for `reason`."""
        return cls(
            request_id=f"hand-off-{message.message_id}",
            conversation_id=message.conversation_id,
            reason=reason,
            requested_at=at,
        )


@dataclass(frozen=True, slots=True)
class DiscardedGeneration:
    """A generation superseded before it was sent (the customer wrote again meanwhile): never
    sent, but its tokens were spent. `generation_id` is unique per claim of the burst."""

    generation_id: str
    conversation_id: str
    producer: Producer
    covered_message_ids: tuple[str, ...]
    discarded_at: datetime


@dataclass(frozen=True, slots=True)
class Answer:
    """What a customer message is answered with: at most one reply, then at most one hand-off."""

    draft: ReplyDraft | None = None
    hand_off: HandOffRequest | None = None
    # Who produced it and what it cost, when a model did (not the keyword path, not a model
    # that gave no answer).
    producer: Producer | None = None
    # The business's flow the model started (issue 12 item 3; "" none): it asks next.
    start_flow: str = ""
