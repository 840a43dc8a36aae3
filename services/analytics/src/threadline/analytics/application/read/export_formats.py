"""How an export writes conversations and messages: CSV (RFC 4180) or JSON Lines.

Every record is one complete piece of text (a CSV row ending in CRLF, a JSON line ending in
LF), so an export can be cut into chunks between records. Formats: `docs/read-models.md`,
"Exports".
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from threadline.analytics.domain.read.views import ConversationView, MessageView

CONVERSATION = "conversation"
MESSAGE = "message"

CONVERSATION_FIELDS = (
    "id",
    "lead_id",
    "lead_wa_id",
    "lead_user_id",
    "lead_name",
    "lead_email",
    "business_number",
    "session_key",
    "channel",
    "status",
    "category",
    "opened_by",
    "assistant",
    "ai_paused",
    "hand_offs",
    "message_count",
    "created_at",
    "updated_at",
    "last_message_at",
    "last_message_preview",
    "first_customer_message_at",
    "closed_at",
    "flow_id",
    "flow_step",
    "flow_completed",
    "flow_status",
    "flow_expires_at",
    "session_data",
    "prompt_tokens",
    "completion_tokens",
    "tokens",
    "llm_cost",
    "whatsapp_cost",
    "cost",
    "assistant_version",
    "cached_tokens",
    "discarded_generations",
    "discarded_llm_cost",
)
MESSAGE_FIELDS = (
    "id",
    "conversation_id",
    "role",
    "author",
    "type",
    "content",
    "status",
    "wamid",
    "created_at",
    "updated_at",
    "metadata",
)


class ExportFormat(Protocol):
    """Writes the records of one export, in order: `header()` first, then each conversation
    followed by its messages."""

    def header(self) -> str: ...

    def conversation(self, view: ConversationView) -> str: ...

    def message(self, view: MessageView) -> str: ...


def conversation_fields(view: ConversationView) -> dict[str, Any]:
    """The conversation as flat fields, in `CONVERSATION_FIELDS` order."""
    return {
        "id": str(view.id),
        "lead_id": str(view.lead_id),
        "lead_wa_id": view.lead.wa_id,
        "lead_user_id": view.lead.user_id,
        "lead_name": view.lead.name,
        "lead_email": view.lead.email,
        "business_number": view.business_number,
        "session_key": view.session_key,
        "channel": view.channel,
        "status": view.status,
        "category": view.category,
        "opened_by": view.opened_by,
        "assistant": view.assistant,
        "ai_paused": view.ai_paused,
        "hand_offs": view.hand_offs,
        "message_count": view.message_count,
        "created_at": iso(view.created_at),
        "updated_at": iso(view.updated_at),
        "last_message_at": iso(view.last_message_at),
        "last_message_preview": view.last_message_preview,
        "first_customer_message_at": iso(view.first_customer_message_at),
        "closed_at": iso(view.closed_at),
        "flow_id": view.flow_id,
        "flow_step": view.flow_step,
        "flow_completed": view.flow_completed,
        "flow_status": view.flow_status,
        "flow_expires_at": iso(view.flow_expires_at),
        "session_data": view.session_data,
        "prompt_tokens": view.prompt_tokens,
        "completion_tokens": view.completion_tokens,
        "tokens": view.tokens,
        "llm_cost": view.llm_cost,
        "whatsapp_cost": view.whatsapp_cost,
        "cost": view.cost,
        "assistant_version": view.assistant_version,
        "cached_tokens": view.cached_tokens,
        "discarded_generations": view.discarded_generations,
        "discarded_llm_cost": view.discarded_llm_cost,
    }


def message_fields(view: MessageView) -> dict[str, Any]:
    """The message as fields, in `MESSAGE_FIELDS` order; `metadata` as the API shows it."""
    return {
        "id": view.id,
        "conversation_id": str(view.conversation_id),
        "role": view.role,
        "author": view.author,
        "type": view.type,
        "content": view.content,
        "status": view.status,
        "wamid": view.wamid,
        "created_at": iso(view.created_at),
        "updated_at": iso(view.updated_at),
        "metadata": view.details(),
    }


class CsvFormat:
    """One header row, then one row per record, RFC 4180 (CRLF, fields with a comma, quote or
    line break quoted, quotes doubled).

    Without messages the columns are `CONVERSATION_FIELDS`. With messages a first column
    `kind` (`conversation` / `message`) is added, then the conversation columns, then
    `message_<field>` for each of `MESSAGE_FIELDS` but `conversation_id`: a message row fills
    `id` with its conversation's id and leaves the other conversation columns empty.
    """

    def __init__(self, *, include_messages: bool) -> None:
        self._messages = include_messages
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._message_fields = [f for f in MESSAGE_FIELDS if f != "conversation_id"]

    def header(self) -> str:
        if not self._messages:
            return self._row(CONVERSATION_FIELDS)
        message_columns = [f"message_{field}" for field in self._message_fields]
        return self._row(["kind", *CONVERSATION_FIELDS, *message_columns])

    def conversation(self, view: ConversationView) -> str:
        values = [csv_value(v) for v in conversation_fields(view).values()]
        if not self._messages:
            return self._row(values)
        return self._row([CONVERSATION, *values, *[""] * len(self._message_fields)])

    def message(self, view: MessageView) -> str:
        fields = message_fields(view)
        conversation = [fields["conversation_id"], *[""] * (len(CONVERSATION_FIELDS) - 1)]
        values = [csv_value(fields[field]) for field in self._message_fields]
        return self._row([MESSAGE, *conversation, *values])

    def _row(self, values: Sequence[str]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(values)
        return self._buffer.getvalue()


class JsonLinesFormat:
    """One JSON object per line, each with a `kind`: `conversation` (its fields, with the
    lead as an object `lead`), and with messages `message` lines (their fields, `metadata`
    as an object) right after their conversation's line. No header."""

    def header(self) -> str:
        return ""

    def conversation(self, view: ConversationView) -> str:
        fields = conversation_fields(view)
        lead = {
            "id": fields["lead_id"],
            "wa_id": fields.pop("lead_wa_id"),
            "user_id": fields.pop("lead_user_id"),
            "name": fields.pop("lead_name"),
            "email": fields.pop("lead_email"),
        }
        return _json_line({"kind": CONVERSATION, **fields, "lead": lead})

    def message(self, view: MessageView) -> str:
        return _json_line({"kind": MESSAGE, **message_fields(view)})


FORMATS = ("csv", "jsonl")


def export_format(name: str, *, include_messages: bool) -> ExportFormat:
    """The writer for a format name (`csv` or `jsonl`)."""
    if name == "jsonl":
        return JsonLinesFormat()
    return CsvFormat(include_messages=include_messages)


def iso(moment: datetime | None) -> str | None:
    """A time in UTC as RFC 3339 (`2025-06-01T09:00:01Z`)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=_number) + "\n"


def _number(value: object) -> float:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
