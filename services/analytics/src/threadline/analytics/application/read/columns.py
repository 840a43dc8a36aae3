"""The columns the queries select, and how a selected row becomes a view.

`CONVERSATION_COLUMNS` reads conversations `c` joined to their contact `ct` into a
`ConversationView` (`conversation_view`); `MESSAGE_COLUMNS` reads `analytics.messages`
unaliased into a `MessageView` (`message_view`). `attachment_view` makes an
`analytics.attachments` row an `AttachmentView`, its transcript columns a `TranscriptView`.
`TOOL_CALL_COLUMNS` reads `analytics.tool_calls` into a `ToolCallView`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, LiteralString

from psycopg.pq import ExecStatus
from psycopg.rows import DictRow, RowMaker, no_result

from threadline.analytics.domain.read.views import (
    AttachmentView,
    ConversationView,
    Lead,
    MessageView,
    ToolCallView,
    TranscriptView,
)

if TYPE_CHECKING:
    from psycopg._cursor_base import BaseCursor  # what a row factory is given (not exported)

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


# Results that carry rows (a named cursor's rows are described by COMMAND_OK).
_ROWS = frozenset(
    (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK, ExecStatus.COMMAND_OK)
)


def named_row(cursor: BaseCursor[Any, Any]) -> RowMaker[DictRow]:
    """psycopg's `dict_row` with its keys interned, so that a view made by `View(**row)` matches
    its keywords by identity instead of comparing strings: a `ConversationView(**row)` took
    14 µs with psycopg's keys, 6 µs with them interned (issue 15; 20 on a page)."""
    result = cursor.pgresult
    if result is None or result.status not in _ROWS:
        return no_result
    encoding = cursor.connection.info.encoding
    names = [sys.intern((result.fname(i) or b"").decode(encoding)) for i in range(result.nfields)]

    def make(values: Sequence[Any]) -> DictRow:
        return dict(zip(names, values, strict=True))

    return make


def conversation_view(row: DictRow) -> ConversationView:
    """The lead's name is the `name` a flow collected, else the WhatsApp profile name. Takes
    the lead's columns out of `row`."""
    lead = Lead(
        row["lead_id"],
        row.pop("lead_wa_id"),
        row.pop("lead_user_id"),
        row.pop("lead_name"),
        email=row.pop("lead_email"),
        data=row.pop("lead_data"),
    )
    return ConversationView(**row, lead=lead)


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
