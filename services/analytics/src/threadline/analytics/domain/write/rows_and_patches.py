"""The rows a batch of events adds, and the patches it makes to rows already written.

Each patch merges several events: a later event's value overrides an earlier one's, counts and
amounts add up, and histories append in position order.

Rows are values, yet not frozen dataclasses: those cost five times as much to construct
(`object.__setattr__` per field), and a replay constructs millions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID


@dataclass(slots=True)
class ContactRow:
    id: UUID
    business_number: str
    wa_id: str
    user_id: str
    name: str
    registered_at: datetime


@dataclass(slots=True)
class ContactPatch:
    """Ids linked to a contact later (kept only where it had none), its newest name, and the
    data collected from the customer (issue 12): each field's latest value, `email` apart."""

    updated_at: datetime
    wa_id: str | None = None
    user_id: str | None = None
    name: str | None = None
    email: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # merged into the contact's


@dataclass(slots=True)
class ContactKeyRow:
    """One customer id (`wa:<wa_id>` or `bsuid:<user_id>`) claimed for a contact on a number."""

    business_number: str
    key: str
    contact_id: UUID
    claimed_at: datetime


@dataclass(slots=True)
class BusinessNumberRow:
    id: UUID
    phone_number_id: str
    registered_at: datetime


@dataclass(slots=True)
class BusinessNumberPatch:
    updated_at: datetime
    autopilot: bool | None = None
    auto_resolve_hours: int | None = None


@dataclass(slots=True)
class TemplateRow:
    number_id: UUID  # the BusinessNumber aggregate; its phone_number_id is looked up on write
    name: str
    language: str
    category: str
    body: str
    parameter_count: int
    registered_at: datetime
    updated_at: datetime | None = None  # registered again later in the same batch


@dataclass(slots=True)
class ConversationRow:
    id: UUID
    lead_id: UUID
    business_number: str
    session_key: str
    channel: str
    status: str
    customer_wa_id: str
    customer_user_id: str
    customer_name: str
    created_at: datetime
    opened_by: str = "customer"
    category: str = "SERVICE"


@dataclass(slots=True)
class ConversationPatch:
    """Everything a batch changes on one conversation; None leaves a column as it is."""

    updated_at: datetime
    added: int = 0
    last_message_at: datetime | None = None
    preview: str | None = None
    first_customer_message_at: datetime | None = None
    last_inbound_at: datetime | None = None
    free_entry_until: datetime | None = None
    status: str | None = None
    ai_paused: bool | None = None
    status_reason: str | None = None
    status_changed_by: str | None = None
    status_changed_at: datetime | None = None
    closed_at: datetime | None = None
    hand_offs: int = 0
    flow_id: str | None = None
    flow_step: str | None = None
    flow_completed: bool | None = None
    # Set with flow_id by each flow step (issue 12): the step's expiry (None: it named none,
    # written as NULL since flow_id is set) and status. `session_data`: the keys the batch's
    # flow steps and collected data set, merged into the conversation's (None: none).
    session_data: dict[str, Any] | None = None
    flow_expires_at: datetime | None = None
    flow_status: str | None = None
    # The assistant: set by a reply that names it (`assistant_named`, the latest wins), else
    # the first AI reply's model stands in (replies from before issue 10, the keyword path).
    assistant: str | None = None
    assistant_version: int = 0
    assistant_named: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    llm_cost: Decimal = Decimal(0)
    discarded_generations: int = 0
    discarded_llm_cost: Decimal = Decimal(0)


@dataclass(slots=True)
class MessageRow:
    id: str
    conversation_id: UUID
    position: int
    role: str
    author: str
    type: str
    content: str
    status: str
    wamid: str
    metadata: dict[str, Any]
    created_at: datetime
    sent_at: datetime | None = None
    in_reply_to: str = ""
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_cost: Decimal = Decimal(0)
    status_history: tuple[dict[str, Any], ...] = ()
    cached_tokens: int = 0
    latency_ms: int = 0
    assistant: str = ""
    assistant_version: int = 0
    interpretation: str = ""  # what the model saw in the customer's images (issue 11 item 3)
    # The knowledge-base passages an AI reply used (issue 12): {passage_id, document,
    # knowledge_base, score, snippet} each.
    citations: tuple[dict[str, Any], ...] = ()


@dataclass(slots=True)
class MessagePatch:
    """Later facts about a message already written (or written earlier in the same batch)."""

    updated_at: datetime
    wamid: str | None = None
    status: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    status_history: list[dict[str, Any]] = field(default_factory=list)
    pricing: dict[str, Any] | None = None
    error_code: int | None = None
    error_title: str | None = None
    content: str | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)
    deleted_at: datetime | None = None
    reaction: str | None = None
    reactions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class AttachmentRow:
    """A message's media as kept (or not) by the platform: one row per message, the latest
    attachment event's facts under the first one's position and time."""

    message_id: str
    conversation_id: UUID
    position: int
    direction: str  # inbound (outbound media are not projected yet)
    media_id: str
    media_type: str
    content_type: str
    size: int
    sha256: str
    file_name: str
    caption: str
    voice: bool
    location: str  # where the media store keeps it: internal, never served as is
    status: str  # stored, failed
    failure_reason: str
    refused: bool
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class TranscriptRow:
    """What was heard of a message's voice note, or why nothing was (the latest transcript
    event's facts). Written onto the message's attachment row; should that row not exist yet,
    it is created `pending` under the first transcript event's position and time."""

    message_id: str
    conversation_id: UUID
    position: int
    status: str  # recorded, missing
    text: str
    language: str
    model: str
    seconds: float  # the audio's duration as the transcriber measured it
    reason: str  # missing: why
    created_at: datetime  # the first transcript event (a pending row's creation time)
    recorded_at: datetime  # the latest


@dataclass(slots=True)
class ToolCallRow:
    """One call of a business's HTTP tool by the assistant (issue 12), kept once per call id
    (a later event for the same call changes nothing, as the session records it once)."""

    call_id: str
    conversation_id: UUID
    position: int
    generation_id: str
    tool: str
    arguments: dict[str, Any]
    status: str
    http_status: int
    latency_ms: int
    mutating: bool
    replayed: bool
    called_at: datetime


@dataclass(slots=True)
class ResponseFact:
    """A customer message waiting for an answer (one row per customer message)."""

    message_id: str
    conversation_id: UUID
    position: int
    received_at: datetime
    sent_at: datetime | None


@dataclass(slots=True)
class Reply:
    """An outbound message: it answers every earlier unanswered message of its conversation."""

    message_id: str
    conversation_id: UUID
    position: int
    author: str
    at: datetime


@dataclass(slots=True)
class Charge:
    """WhatsApp's price for one billable message, charged once whatever repeats it."""

    message_id: str
    category: str
    cost: Decimal
