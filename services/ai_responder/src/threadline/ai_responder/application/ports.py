"""What the AI responder's use case needs from outside: an assistant model, a place for answers,
the conversation's history, the price of tokens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal, Protocol

from threadline.ai_responder.domain.answers import DiscardedGeneration, HandOffRequest, ReplyDraft
from threadline.ai_responder.domain.answers import Usage as Usage  # the port speaks it too
from threadline.ai_responder.domain.citations import Grounding
from threadline.ai_responder.domain.vision import Image


class Replies(Protocol):
    """Where the answers go (the session hears of them); each raises when not kept."""

    async def reply_drafted(self, draft: ReplyDraft) -> None: ...

    async def hand_off_requested(self, request: HandOffRequest) -> None: ...

    async def generation_discarded(self, discarded: DiscardedGeneration) -> None:
        """A superseded generation's usage and cost (never sent, still spent)."""
        ...


class PriceTable(Protocol):
    """What a model's tokens cost (issue 10 item 8): adapters/outbound/prices.py."""

    def price(self, model: str, usage: Usage) -> Decimal | None:
        """The price in US dollars of `usage` with `model` (`provider:model`); None when the
        table does not know the model (the reply is then recorded without a cost)."""
        ...


# The assistant's model (issue 10): a conversation in, text and tool calls out. Adapters over
# the providers' SDKs live in adapters/outbound/models/.

CUSTOMER: Final = "customer"
ASSISTANT: Final = "assistant"


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn of the conversation the model sees: who spoke (customer/assistant) and what;
    a customer's turn may show the model `images` (issue 11: OpenAI image parts, Anthropic
    image blocks), `text` beside them."""

    role: Literal["customer", "assistant"]
    text: str
    images: tuple[Image, ...] = ()


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool the model may call: its name, what it is for, its JSON-schema parameters."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any]
    call_id: str = ""  # the provider's id of the call, which its result names


@dataclass(frozen=True, slots=True)
class ToolRound:
    """Tools the model called and what they gave (issue 12: the business's HTTP tools), told
    back to it after the turns: `results[i]` (JSON text) answers `calls[i]`."""

    calls: tuple[ToolCall, ...]
    results: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModelRequest:
    system_prompt: str
    turns: tuple[Turn, ...]
    tools: tuple[Tool, ...] = ()
    max_output_tokens: int = 1024
    # The model must call one of `tools` (how it chooses a reply format or hands off).
    require_tool: bool = False
    # The tool calls of this answer so far and their results, oldest first.
    tool_rounds: tuple[ToolRound, ...] = ()
    # What the assistant's knowledge bases gave for the question (None: it has none); the
    # passages are also in `system_prompt`, this is for a model that reads them as data.
    grounding: Grounding | None = None
    # The assistant's language ("" when it has none): also in `system_prompt`; this is for a
    # model that writes fixed sentences (the offline one).
    language: str = ""


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage
    model: str  # `provider:model`
    latency_seconds: float


class ModelError(Exception):
    """The model gave no answer; `reason` is what an operator reads on the hand-off."""

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(f"{model}: {reason}")
        self.model = model
        self.reason = reason


class ModelUnavailable(ModelError):
    """Down, timed out, overloaded or rate limited, after the SDK's bounded retries."""


class ModelRefused(ModelError):
    """The provider refused the request (bad request, authentication, permission)."""


class AssistantModel(Protocol):
    @property
    def name(self) -> str:
        """`provider:model`."""
        ...

    async def generate(self, request: ModelRequest) -> ModelAnswer:
        """The model's answer; raises ModelUnavailable or ModelRefused."""
        ...

    async def close(self) -> None:
        """Release the model's connections."""
        ...


# The conversation's history (issue 10 item 3): what was said in this conversation and in the
# same customer's earlier conversations with the same business number. The adapter reads the
# session's event log (adapters/outbound/conversation_history.py).


@dataclass(frozen=True, slots=True)
class SaidTurn:
    """A turn of a recorded conversation with the id of its message (so the message being
    answered, already recorded, is not told twice)."""

    message_id: str
    turn: Turn


@dataclass(frozen=True, slots=True)
class EarlierConversation:
    """One of the customer's earlier conversations with the same business number: when it
    started and its last turns, oldest first (already bounded by the adapter)."""

    conversation_id: str
    started_at: datetime
    turns: tuple[Turn, ...]


@dataclass(frozen=True, slots=True)
class History:
    """This conversation's turns, oldest first, who it is with, and the earlier conversations
    (most recent first)."""

    turns: tuple[SaidTurn, ...] = ()
    customer_name: str = ""
    business_number: str = ""
    earlier: tuple[EarlierConversation, ...] = ()


NO_HISTORY: Final = History()


class HistoryUnavailable(Exception):
    """The history could not be read (the session is down, slow or refuses the reader)."""


class ConversationHistory(Protocol):
    async def read(self, conversation_id: str) -> History:
        """The conversation's history; the customer and business number are the
        conversation's own. Raises HistoryUnavailable."""
        ...


class NoConversationHistory:
    """The history when the service has no way to read it: nothing but the current message."""

    async def read(self, conversation_id: str) -> History:
        return NO_HISTORY
