"""What the session is asked to record, independent of the wire format it came in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from threadline.session.domain.citations import Citation


@dataclass(frozen=True, slots=True)
class InboundMessage:
    wamid: str
    phone_number_id: str
    wa_id: str
    user_id: str
    profile_name: str
    content: dict[str, str]
    sent_at: datetime
    context_wamid: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    trace: str = ""
    free_entry: bool = False  # came through a free entry point (an ad referral): 72-hour window
    target_wamid: str = ""  # for an edit, a revoke or a reaction: the message it changes


@dataclass(frozen=True, slots=True)
class StatusReport:
    wamid: str
    phone_number_id: str
    status: str
    recipient_wa_id: str
    recipient_user_id: str
    reported_at: datetime
    pricing: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    trace: str = ""


@dataclass(frozen=True, slots=True)
class DraftedReply:
    """A reply the assistant proposes, with what producing it cost (issue 10 item 8): the
    assistant (name, configuration version) and model, tokens as the provider counted them
    (`prompt_tokens` includes `cached_tokens`), the model's time, the price in US dollars as a
    plain decimal ("" when not priced), and the customer messages it answers; the customer
    message it quotes, if any (issue 11 item 8)."""

    draft_id: str
    conversation_id: UUID
    in_reply_to_message_id: str
    content: dict[str, str]
    trace: str = ""
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    latency_ms: int = 0
    assistant: str = ""
    assistant_version: int = 0
    cost: str = ""
    covered_message_ids: tuple[str, ...] = ()
    quoted_message_id: str = ""
    interpretation: str = ""  # what the model saw in the customer's images (issue 11 item 3)
    citations: tuple[Citation, ...] = ()  # the knowledge-base passages it used (issue 12)
    author: str = "ai"  # or "flow": a flow's step wrote it (issue 12)


@dataclass(frozen=True, slots=True)
class DiscardedGeneration:
    """A reply the assistant generated and dropped unsent because the customer wrote again
    meanwhile: recorded on the conversation for what it cost (fields as `DraftedReply`'s)."""

    generation_id: str
    conversation_id: UUID
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    latency_ms: int = 0
    assistant: str = ""
    assistant_version: int = 0
    cost: str = ""
    covered_message_ids: tuple[str, ...] = ()
    trace: str = ""


@dataclass(frozen=True, slots=True)
class DispatchReport:
    """Outbound's report of a send: the wamid the Graph API named it by, or why it failed."""

    message_id: UUID
    conversation_id: UUID
    wamid: str = ""
    error_code: int = 0
    error_title: str = ""
    error_detail: str = ""
    trace: str = ""

    @property
    def succeeded(self) -> bool:
        return bool(self.wamid)


@dataclass(frozen=True, slots=True)
class KeptMedia:
    """Outbound kept a customer message's media in the media store (issue 11 item 1)."""

    message_id: UUID  # the customer message (the session's id)
    conversation_id: UUID
    media_id: str
    media_type: str
    content_type: str
    size: int
    sha256: str
    file_name: str
    caption: str
    voice: bool
    location: str
    kept_at: datetime
    trace: str = ""


@dataclass(frozen=True, slots=True)
class MediaNotKept:
    """Outbound could not keep a customer message's media (retries ran out, the id expired,
    too large, wrong hash), with the reason an operator reads."""

    message_id: UUID
    conversation_id: UUID
    media_id: str
    media_type: str
    reason: str
    refused: bool
    attempts: int
    failed_at: datetime
    trace: str = ""


@dataclass(frozen=True, slots=True)
class HeardVoiceNote:
    """The AI responder transcribed a customer's voice note (issue 11 item 2)."""

    message_id: UUID  # the customer message the audio came with (the session's id)
    conversation_id: UUID
    text: str
    language: str
    model: str
    duration_seconds: float
    transcribed_at: datetime
    trace: str = ""


@dataclass(frozen=True, slots=True)
class UnheardVoiceNote:
    """The AI responder could not transcribe a customer's voice note (no transcription model,
    refused, retries ran out), with the reason an operator reads."""

    message_id: UUID
    conversation_id: UUID
    reason: str
    model: str
    failed_at: datetime
    trace: str = ""


@dataclass(frozen=True, slots=True)
class HandOffRequest:
    """The assistant asks for a human."""

    request_id: str
    conversation_id: UUID
    reason: str
    trace: str = ""


@dataclass(frozen=True, slots=True)
class FlowStepReached:
    """A structured flow run by the assistant reached a step."""

    conversation_id: UUID
    flow_id: str
    step_id: str
    data: dict[str, Any]  # collected so far, by the flow's field keys (name, email, ...)
    completed: bool
    trace: str = ""
    expires_at: datetime | None = None  # unset before flows expired
    status: str = ""  # running, completed, handed_off, expired ("" = running)
    flow_version: int = 0


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """An operator's or integration's `SendMessage`: into a conversation, or to a customer of
    a business number (business-initiated; outside the window only a template)."""

    content: dict[str, str]
    idempotency_key: str
    conversation_id: UUID | None = None
    phone_number_id: str = ""
    customer_wa_id: str = ""
    author: str = "agent"
    quoted_message_id: str = ""  # an earlier message of the conversation this one answers
    trace: str = ""  # the caller's `traceparent`: its send and the dispatch are one trace


@dataclass(frozen=True, slots=True)
class MessageFromTester:
    """A tester's `SendTestMessage` in the console's test chat (issue 13 item 4): recorded as a
    customer message of the tester's synthetic contact (`threadline.rules.testchat`)."""

    phone_number_id: str
    tester: str  # the tester's name, stripped
    content: dict[str, str]
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class ToolCallReport:
    """The assistant's model called one of the business's HTTP tools (issue 12 item 2)."""

    call_id: str
    conversation_id: UUID
    generation_id: str
    tool: str
    arguments_json: str
    status: str
    http_status: int
    result_json: str
    latency_ms: int
    mutating: bool
    replayed: bool
    trace: str = ""


@dataclass(frozen=True, slots=True)
class CollectedData:
    """The assistant's collect_customer_data tool gathered these values (issue 12 item 2),
    already accepted by the field rules."""

    event_id: str
    conversation_id: UUID
    generation_id: str
    fields: dict[str, Any]  # by the assistant's field keys (name, email, ...)
    trace: str = ""


Fact = (
    InboundMessage
    | StatusReport
    | DraftedReply
    | DispatchReport
    | HandOffRequest
    | FlowStepReached
    | DiscardedGeneration
    | KeptMedia
    | MediaNotKept
    | HeardVoiceNote
    | UnheardVoiceNote
    | ToolCallReport
    | CollectedData
)
