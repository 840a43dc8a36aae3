"""The columns the queries select, and how a selected row becomes a view.

`CONVERSATION_COLUMNS` reads conversations `c` joined to their contact `ct` into a
`ConversationView` (`conversation_view`); `MESSAGE_COLUMNS` reads `analytics.messages`
unaliased into a `MessageView` (`message_view`). `attachment_view` makes an
`analytics.attachments` row an `AttachmentView`, its transcript columns a `TranscriptView`.
`TOOL_CALL_COLUMNS` reads `analytics.tool_calls` into a `ToolCallView`.
"""

from __future__ import annotations

from typing import LiteralString

from psycopg.rows import DictRow

from threadline.analytics.domain.read.views import (
    AttachmentView,
    ConversationView,
    Lead,
    MessageView,
    ToolCallView,
    TranscriptView,
)

CONVERSATION_COLUMNS: LiteralString = """
    c.id, c.lead_id, c.business_number, c.session_key, c.channel, c.status,
    c.message_count, c.created_at, c.updated_at, c.last_message_at, c.last_message_preview,
    c.category, c.opened_by, c.assistant, c.ai_paused, c.hand_offs, c.flow_id, c.flow_step,
    c.flow_completed, c.first_customer_message_at, c.closed_at, c.prompt_tokens,
    c.completion_tokens, c.llm_cost, c.whatsapp_cost, c.assistant_version, c.cached_tokens,
    c.discarded_generations, c.discarded_llm_cost, c.session_data, c.flow_expires_at,
    c.flow_status,
    coalesce(nullif(ct.wa_id, ''), c.customer_wa_id) AS lead_wa_id,
    coalesce(nullif(ct.user_id, ''), c.customer_user_id) AS lead_user_id,
    coalesce(nullif(ct.data ->> 'name', ''), nullif(ct.name, ''), c.customer_name) AS lead_name,
    coalesce(ct.email, '') AS lead_email,
    coalesce(ct.data, jsonb_build_object()) AS lead_data
"""

MESSAGE_COLUMNS: LiteralString = """
    id, conversation_id, role, author, type, content, status, wamid, metadata, created_at,
    updated_at, sent_at, in_reply_to, status_history, pricing, whatsapp_cost, error_code,
    error_title, original_content, edits, deleted, deleted_at, reaction, reactions, model,
    prompt_tokens, completion_tokens, llm_cost, cached_tokens, latency_ms, assistant,
    assistant_version, interpretation, citations
"""

TOOL_CALL_COLUMNS: LiteralString = """
    call_id, conversation_id, generation_id, tool, arguments, status, http_status, latency_ms,
    mutating, replayed, called_at
"""

_LEAD = ("lead_wa_id", "lead_user_id", "lead_name", "lead_email", "lead_data")


def conversation_view(row: DictRow) -> ConversationView:
    """The lead's name is the `name` a flow collected, else the WhatsApp profile name."""
    lead = Lead(
        row["lead_id"],
        row["lead_wa_id"],
        row["lead_user_id"],
        row["lead_name"],
        email=row["lead_email"],
        data=row["lead_data"],
    )
    return ConversationView(
        **{name: value for name, value in row.items() if name not in _LEAD}, lead=lead
    )


def message_view(row: DictRow) -> MessageView:
    return MessageView(**row)


def attachment_view(row: DictRow) -> AttachmentView:
    """An attachment row as read, with its transcript when the voice note has one."""
    status = row.pop("transcript_status")
    heard = {name: row.pop(f"transcript_{name}") for name in ("language", "model", "reason")}
    text, seconds, at = (
        row.pop("transcript"),
        row.pop("transcript_seconds"),
        row.pop("transcript_at"),
    )
    transcript = (
        TranscriptView(status, text, duration_seconds=seconds, recorded_at=at, **heard)
        if status
        else None
    )
    return AttachmentView(**row, transcript=transcript)


def tool_call_view(row: DictRow) -> ToolCallView:
    return ToolCallView(**row)
