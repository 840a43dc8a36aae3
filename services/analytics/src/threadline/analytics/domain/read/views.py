"""What the queries answer: frozen snapshots of the read models (how a row of them becomes
one is `application/read/columns.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Lead:
    """The customer (contact) a conversation is with: `name` is the one they gave a flow
    when they gave one, else their WhatsApp profile name (issue 12)."""

    id: UUID
    wa_id: str
    user_id: str
    name: str
    email: str = ""  # collected in a conversation
    data: dict[str, Any] = field(default_factory=dict)  # every field collected, latest values


@dataclass(frozen=True, slots=True)
class ConversationView:
    id: UUID
    lead_id: UUID
    business_number: str
    session_key: str
    channel: str
    status: str
    message_count: int
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None
    last_message_preview: str
    lead: Lead
    category: str = "SERVICE"
    opened_by: str = "customer"
    assistant: str = ""
    ai_paused: bool = False
    hand_offs: int = 0
    flow_id: str = ""
    flow_step: str = ""
    flow_completed: bool = False
    # The flow's data, expiry and status (issue 12): {} / None / '' when no flow ran.
    session_data: dict[str, Any] = field(default_factory=dict)
    flow_expires_at: datetime | None = None
    flow_status: str = ""
    first_customer_message_at: datetime | None = None
    closed_at: datetime | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_cost: Decimal = Decimal(0)  # replies and discarded generations
    whatsapp_cost: Decimal = Decimal(0)
    assistant_version: int = 0
    cached_tokens: int = 0  # of prompt_tokens
    discarded_generations: int = 0
    discarded_llm_cost: Decimal = Decimal(0)  # of llm_cost

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost(self) -> Decimal:
        """Language model plus WhatsApp pricing, in the rates' currency."""
        return self.llm_cost + self.whatsapp_cost


@dataclass(frozen=True, slots=True)
class MessageView:
    id: str
    conversation_id: UUID
    role: str
    author: str
    type: str
    content: str
    status: str
    wamid: str
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    in_reply_to: str = ""
    status_history: list[dict[str, Any]] = field(default_factory=list)
    pricing: dict[str, Any] | None = None
    whatsapp_cost: Decimal | None = None
    error_code: int | None = None
    error_title: str = ""
    original_content: str | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    deleted_at: datetime | None = None
    reaction: str = ""
    reactions: list[dict[str, Any]] = field(default_factory=list)
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_cost: Decimal = Decimal(0)
    cached_tokens: int = 0
    latency_ms: int = 0
    assistant: str = ""
    assistant_version: int = 0
    interpretation: str = ""
    # An AI reply's knowledge-base passages (issue 12): {passage_id, document, knowledge_base,
    # score, snippet} each, as recorded.
    citations: Sequence[dict[str, Any]] = ()

    def details(self) -> dict[str, Any]:
        """The metadata with what the read model knows of the message, as JSON values.

        Keys appear only when they say something: `status_history`, `pricing`,
        `whatsapp_cost`, `error` (code, title), `edits` with `original_content`, `deleted`
        with `deleted_at`, `reaction` with `reactions`, and `model` with `prompt_tokens`,
        `completion_tokens` and `llm_cost` for a reply a language model drafted, with
        `cached_tokens`, `latency_ms`, `assistant` and `assistant_version` when its event
        recorded them (issue 10 item 8), and `interpretation`, what the model saw in the
        customer's images, for a reply shown some (issue 11 item 3), and `citations`, the
        knowledge-base passages an AI reply used (issue 12). A voice note's
        `transcript` (issue 11 item 2) is also shown inside its `attachment` entry.
        """
        found: dict[str, Any] = dict(self.metadata)
        if self.status_history:
            found["status_history"] = self.status_history
        if self.pricing is not None:
            found["pricing"] = self.pricing
        if self.whatsapp_cost is not None:
            found["whatsapp_cost"] = float(self.whatsapp_cost)
        if self.error_code is not None:
            earlier = found.get("error")
            found["error"] = {
                **(earlier if isinstance(earlier, dict) else {}),
                "code": self.error_code,
                "title": self.error_title,
            }
        if self.edits:
            found.update(edits=self.edits, original_content=self.original_content)
        if self.deleted:
            found.update(deleted=True, deleted_at=_iso(self.deleted_at))
        if self.reactions:
            found.update(reaction=self.reaction, reactions=self.reactions)
        if self.model or self.prompt_tokens or self.completion_tokens:
            found.update(
                model=self.model,
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens,
                llm_cost=float(self.llm_cost),
            )
        if self.assistant or self.cached_tokens or self.latency_ms:
            found.update(
                cached_tokens=self.cached_tokens,
                latency_ms=self.latency_ms,
                assistant=self.assistant,
                assistant_version=self.assistant_version,
            )
        if self.interpretation:
            found["interpretation"] = self.interpretation
        if self.citations:
            found["citations"] = list(self.citations)
        transcript, attachment = found.get("transcript"), found.get("attachment")
        if isinstance(transcript, dict) and isinstance(attachment, dict):
            # shown beside the audio as well: recorded apart, so that neither replaces the other
            found["attachment"] = {**attachment, "transcript": transcript}
        return found


@dataclass(frozen=True, slots=True)
class ConversationPage:
    conversations: tuple[ConversationView, ...]
    total: int
    page: int
    size: int
    total_estimated: bool = False  # `total` past `COUNT_BOUND` is the planner's estimate


@dataclass(frozen=True, slots=True)
class ConversationDetail:
    conversation: ConversationView
    messages: tuple[MessageView, ...]  # oldest first


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: tuple[MessageView, ...]  # oldest first
    total: int


@dataclass(frozen=True, slots=True)
class AttachmentView:
    """A message's media as kept; its id is the message's (where it is stored stays inside)."""

    message_id: str
    conversation_id: UUID
    direction: str
    media_type: str
    content_type: str
    size: int
    sha256: str
    file_name: str
    caption: str
    voice: bool
    status: str
    failure_reason: str
    refused: bool
    created_at: datetime
    updated_at: datetime
    transcript: TranscriptView | None = None


@dataclass(frozen=True, slots=True)
class TranscriptView:
    """What was heard of a voice note (`recorded`), or why nothing was (`missing`)."""

    status: str
    text: str
    language: str
    model: str
    duration_seconds: float
    reason: str
    recorded_at: datetime | None


@dataclass(frozen=True, slots=True)
class AttachmentPage:
    attachments: tuple[AttachmentView, ...]  # oldest first
    total: int
    page: int
    size: int


@dataclass(frozen=True, slots=True)
class ToolCallView:
    """One call of a business's HTTP tool by the assistant, as the session recorded it."""

    call_id: str
    conversation_id: UUID
    generation_id: str
    tool: str
    arguments: dict[str, Any]
    status: str
    http_status: int
    latency_ms: int
    mutating: bool
    replayed: bool
    called_at: datetime


@dataclass(frozen=True, slots=True)
class ToolCallPage:
    tool_calls: tuple[ToolCallView, ...]  # oldest first
    total: int
    page: int
    size: int


@dataclass(frozen=True, slots=True)
class TemplateView:
    name: str
    language: str
    category: str
    parameter_count: int


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """The customer service window with one customer, as the session enforces it."""

    window_active: bool
    last_inbound_at: datetime | None
    expires_at: datetime | None
    remaining_minutes: int
    conversation_id: UUID
    templates: tuple[TemplateView, ...]  # only when the window is closed


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
