"""The REST API's JSON shapes as pydantic models, for the OpenAPI document only.

The answers are built by `shapes` from the gRPC replies; these models say what they hold
(`extra="forbid"`: a field `shapes` adds that is not here fails the schema-driven tests, so the
two cannot drift apart). Times are ISO-8601 UTC strings.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Shape):
    code: str = Field(description="the gRPC status name, e.g. INVALID_ARGUMENT, NOT_FOUND")
    message: str = Field(description="what is wrong, naming the parameter or field")


class ErrorBody(Shape):
    error: ErrorDetail


class Lead(Shape):
    id: str
    phone: str = Field(description="the customer's WhatsApp number (wa_id)")
    wa_id: str
    user_id: str = Field(description="the business-scoped user id, when WhatsApp gives one")
    name: str
    email: str = Field(description="collected in a conversation; empty until then")


class Conversation(Shape):
    id: str
    lead_id: str
    session_key: str
    channel: str
    status: str
    message_count: int
    created_at: str | None
    updated_at: str | None
    lead: Lead | None
    last_message_at: str | None
    last_message_preview: str
    business_number: str
    category: str
    assistant: str
    ai_paused: bool
    cost: float
    tokens: int
    opened_by: str
    conversation_flow_id: str
    current_step_id: str
    session_data: dict[str, Any]
    expires_at: str | None
    is_completed: bool
    flow_status: str


class Citation(Shape):
    passage_id: str
    document: str
    knowledge_base: str
    score: float
    snippet: str


class Message(Shape):
    id: str
    conversation_id: str
    role: str
    author: str
    type: str
    content: str
    status: str
    metadata: Any
    created_at: str | None
    updated_at: str | None
    wamid: str
    interpretation: str
    citations: list[Citation]


class ConversationWithMessages(Conversation):
    messages: list[Message]


class ConversationPage(Shape):
    conversations: list[Conversation]
    total: int
    page: int
    size: int


class Transcript(Shape):
    status: str
    text: str
    language: str
    model: str
    duration_seconds: float
    reason: str
    recorded_at: str | None


class Attachment(Shape):
    id: str
    message_id: str
    conversation_id: str
    direction: str
    type: str
    content_type: str
    size: int
    sha256: str
    file_name: str
    caption: str
    voice: bool
    status: str
    failure_reason: str
    refused: bool
    created_at: str | None
    updated_at: str | None
    transcript: Transcript | None
    file: str | None


class AttachmentPage(Shape):
    data: list[Attachment]
    total: int
    page: int
    size: int


class ToolCall(Shape):
    id: str
    conversation_id: str
    generation_id: str
    tool: str
    arguments: Any
    status: str
    http_status: int | None
    latency_ms: int
    mutating: bool
    replayed: bool
    at: str | None


class ToolCallPage(Shape):
    data: list[ToolCall]
    total: int
    page: int
    size: int


class Template(Shape):
    id: str = Field(description="name:language, the template's identity at WhatsApp")
    name: str
    language: str
    category: str
    body: str
    param_count: int


class TemplateList(Shape):
    templates: list[Template]


class SessionStatus(Shape):
    window_active: bool
    last_inbound_at: str | None
    expires_at: str | None
    remaining_minutes: int
    templates: list[Template] = Field(description="only when the window is closed")
    conversation_id: str | None
    business_number: str


class StatusChange(Shape):
    status: Literal["active", "escalated", "completed", "abandoned"]
    reason: str = ""


class ConversationStatus(Shape):
    id: str
    status: str


class TemplateSend(Shape):
    name: str
    language: str
    parameters: list[str] = Field(default_factory=list, description="{{1}}..{{n}} in order")


class MessageSend(Shape):
    type: Literal["text", "interactive", "template"]
    text: str = Field(default="", description="type text: the text")
    interactive: dict[str, Any] | None = Field(
        default=None, description="type interactive: WhatsApp's interactive object"
    )
    template: TemplateSend | None = Field(default=None, description="type template")
    quoted_message_id: str = Field(default="", description="an earlier message this answers")


class MessageSent(Shape):
    message_id: str
    conversation_id: str


class FilesSent(Shape):
    conversation_id: str
    message_ids: list[str]


class HandOff(Shape):
    reason: str = ""


class Autopilot(Shape):
    enabled: bool


class AutopilotSet(Shape):
    phone_number_id: str
    enabled: bool


class AutoResolution(Shape):
    hours: int = Field(description="idle hours before an open conversation is resolved")


class AutoResolutionSet(Shape):
    phone_number_id: str
    hours: int


class TemplateRegistration(Shape):
    phone_number_id: str
    name: str
    language: str
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"]
    body: str = Field(description="with {{1}}..{{n}} placeholders")


class Assistant(Shape):
    name: str
    model: str
    system_prompt: str
    language: str
    reply_delay_seconds: float = Field(
        description="seconds the assistant waits before answering (the reply delay)"
    )
    max_context_tokens: int
    tools: list[str]
    business_numbers: list[str]
    knowledge_bases: list[str]
    http_tools: Any
    collect: Any
    version: int


class AssistantList(Shape):
    assistants: list[Assistant]


class AssistantApplied(Shape):
    assistant: Assistant
    created: bool
    changed: bool


class Flow(Shape):
    id: str
    name: str
    definition_version: int
    version: int
    trigger_kinds: list[str]
    business_numbers: list[str]
    definition: Any


class FlowList(Shape):
    flows: list[Flow]


class FlowApplied(Shape):
    flow: Flow
    created: bool
    changed: bool


class ResponseTimes(Shape):
    average_seconds: float
    p90_seconds: float
    responses: int


class CountBy(Shape):
    key: str
    count: int


class DailyMetrics(Shape):
    day: str
    conversations: int
    customer_messages: int
    replies: int
    response_rate: float
    answered_rate: float
    cost: float


class Metrics(Shape):
    total_conversations: int
    messages_per_conversation: float
    response_rate: float
    answered_rate: float
    ai_response_time: ResponseTimes
    human_response_time: ResponseTimes
    cost_per_conversation: float
    total_cost: float
    language_model_cost: float
    whatsapp_cost: float
    prompt_tokens: int
    completion_tokens: int
    by_category: list[CountBy]
    by_status: list[CountBy]
    hand_offs: int
    series: list[DailyMetrics]


class KnowledgeBase(Shape):
    name: str
    documents: int
    passages: int


class KnowledgeBaseList(Shape):
    data: list[KnowledgeBase]


class AddedDocument(Shape):
    document: str
    passages: int
    replaced: bool


class DocumentsAdded(Shape):
    knowledge_base: str
    documents: list[AddedDocument]


class Passage(Shape):
    knowledge_base: str
    document: str
    position: int
    text: str
    score: float
    similarity: float


class SearchResult(Shape):
    knowledge_base: str
    abstained: bool
    data: list[Passage]
