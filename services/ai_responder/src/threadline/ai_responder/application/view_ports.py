"""The AI responder's own view of its conversations (issue 10): what it needs to answer a burst
without asking the session — who the conversation is with, on which business number, whether a
person took it over, and what was said (bounded) — kept from the session's events by the
responder's consumer, in a store every responder shares.

The view is bounded: the newest `MAX_MESSAGES` messages within `MAX_CHARACTERS`, however long
the conversation grows (the model's context budget is smaller still: application/model_request.py).
Messages are kept in the order of the session's store (`position`), whatever order they were
read in, once each."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal, Protocol

from threadline.ai_responder.application.model_request import what_the_customer_said
from threadline.ai_responder.application.ports import (
    ASSISTANT,
    CUSTOMER,
    EarlierConversation,
    History,
    SaidTurn,
    Turn,
)
from threadline.ai_responder.domain.attachment import Attachment
from threadline.ai_responder.domain.customer_message import Choice, CustomerMessage

MAX_MESSAGES: Final = 200
MAX_CHARACTERS: Final = 64_000
EARLIER_CONVERSATIONS: Final = 3  # the customer's earlier conversations remembered
EARLIER_TURNS: Final = 20  # the last turns of each


@dataclass(frozen=True, slots=True)
class ViewedMessage:
    """One message of the conversation: the customer's (its WhatsApp `type`, its text as the
    responder reads it, when it was sent, its wamid) or the business's (`type` "", its text as
    the model reads it)."""

    position: int
    message_id: str
    role: Literal["customer", "assistant"]
    text: str
    type: str = ""
    sent_at: datetime | None = None
    wamid: str = ""
    # A voice note whose transcript has not come yet: its burst waits for it (issue 11).
    awaiting_transcript: bool = False
    # A media message's file (issue 11): as declared in the message, then as kept or not.
    attachment: Attachment | None = None
    # An image not kept yet: its burst waits for it (the model that sees is shown it).
    awaiting_attachment: bool = False
    # The button or list row a customer's tap chose (a flow reads the option's id).
    choice: Choice | None = None


# What a voice note becomes in the view once heard (types of the view only, not WhatsApp's):
# transcribed (its text is the transcript) or not (the model is told it could not be heard).
VOICE_TRANSCRIBED: Final = "voice_transcribed"
VOICE_UNHEARD: Final = "voice_unheard"
# How long a burst waits for its voice notes' transcripts (and its images' keeping) before it is
# answered without them.
TRANSCRIPT_WAIT_SECONDS: Final = 60.0


@dataclass(frozen=True, slots=True)
class ConversationView:
    conversation_id: str
    contact_id: str = ""
    business_number: str = ""
    customer_name: str = ""
    started_at: datetime | None = None
    ai_paused: bool = False
    paused_position: int = 0  # the position of the event that last paused or resumed the AI
    messages: tuple[ViewedMessage, ...] = field(default=())

    def customer_message(self, message_id: str) -> CustomerMessage | None:
        """The customer's message `message_id`, as the responder answers it."""
        for message in self.messages:
            if message.message_id == message_id and message.role == CUSTOMER:
                return CustomerMessage(
                    message_id=message.message_id,
                    conversation_id=self.conversation_id,
                    type=message.type,
                    text=message.text,
                    sent_at=message.sent_at or datetime.min,
                    customer_name=self.customer_name,
                    attachment=message.attachment,
                    choice=message.choice,
                )
        return None

    def awaiting_transcripts(self, message_ids: tuple[str, ...]) -> bool:
        """Whether a voice note among `message_ids` still waits for its transcript."""
        wanted = set(message_ids)
        return any(m.awaiting_transcript for m in self.messages if m.message_id in wanted)

    def awaiting_attachments(self, message_ids: tuple[str, ...]) -> bool:
        """Whether an image among `message_ids` is still to be kept (or to fail)."""
        wanted = set(message_ids)
        return any(m.awaiting_attachment for m in self.messages if m.message_id in wanted)

    def wamid_of(self, message_id: str) -> str:
        """WhatsApp's id of the customer's message `message_id` ("" when unknown)."""
        return next((m.wamid for m in self.messages if m.message_id == message_id), "")

    def said_turns(self) -> tuple[SaidTurn, ...]:
        return tuple(SaidTurn(m.message_id, _turn(self, m)) for m in self.messages)


def _turn(view: ConversationView, message: ViewedMessage) -> Turn:
    if message.role == ASSISTANT:
        return Turn(ASSISTANT, message.text)
    customer = view.customer_message(message.message_id)
    return Turn(CUSTOMER, what_the_customer_said(customer) if customer else message.text)


def history_of(view: ConversationView, earlier: list[ConversationView]) -> History:
    """What the model reads of the conversation and of the customer's earlier ones."""
    remembered = tuple(
        EarlierConversation(
            c.conversation_id,
            c.started_at or datetime.min,
            tuple(turn.turn for turn in c.said_turns()[-EARLIER_TURNS:]),
        )
        for c in earlier
        if c.messages
    )
    return History(
        turns=view.said_turns(),
        customer_name=view.customer_name,
        business_number=view.business_number,
        earlier=remembered,
    )


class ConversationViews(Protocol):
    """The view's store: every change is kept before it returns (the event is acknowledged
    after), and applying the same event twice changes nothing."""

    async def started(
        self,
        conversation_id: str,
        *,
        contact_id: str,
        business_number: str,
        customer_name: str,
        started_at: datetime,
    ) -> None: ...

    async def said(self, conversation_id: str, message: ViewedMessage) -> ConversationView:
        """Keep the message; the conversation as it now is."""
        ...

    async def paused(self, conversation_id: str, *, paused: bool, position: int) -> None: ...

    async def heard(self, conversation_id: str, message_id: str, *, transcript: str | None) -> None:
        """A voice note's transcript came (`transcript`), or it will not (None): the message
        reads as the transcript, or as a voice note that could not be heard."""
        ...

    async def attached(self, conversation_id: str, message_id: str, attachment: Attachment) -> None:
        """A customer message's file was kept (`attachment.location`) or could not be
        (`attachment.failed`): either way its burst no longer waits for it; what the message
        declared (file name, type, caption) fills in what `attachment` leaves out."""
        ...

    async def conversation(self, conversation_id: str) -> ConversationView | None: ...

    async def earlier(self, view: ConversationView, *, limit: int) -> list[ConversationView]:
        """The customer's most recent earlier conversations with the same business number,
        most recent first."""
        ...
