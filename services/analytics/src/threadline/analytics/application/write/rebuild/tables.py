"""The read-model tables as the bulk rebuild holds and writes them: key, columns and their
types (the rows in memory are dicts by column name).

A rebuild writes every column it stores (the generated ones excepted) with binary `COPY`, so it
must know them all: the adapter's `check_columns` refuses to run against tables that a later
migration gave a column this module does not list, rather than leave that column at its default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    key: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (column, PostgreSQL type), in COPY order

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def types(self) -> list[str]:
        return [kind for _, kind in self.columns]

    def values(self) -> Callable[[Row], tuple[Any, ...]]:
        """A function giving a row's values in COPY order."""
        getter: Callable[[Row], tuple[Any, ...]] = itemgetter(*self.names)
        return getter

    def key_of(self, row: Row) -> Any:
        if len(self.key) == 1:
            return row[self.key[0]]
        return tuple(row[k] for k in self.key)


TSTZ = "timestamptz"

BUSINESS_NUMBERS = Table(
    "business_numbers",
    ("id",),
    (
        ("id", "uuid"),
        ("phone_number_id", "text"),
        ("autopilot", "bool"),
        ("auto_resolve_hours", "int4"),
        ("registered_at", TSTZ),
        ("updated_at", TSTZ),
    ),
)
TEMPLATES = Table(
    "templates",
    ("number_id", "name", "language"),
    (
        ("number_id", "uuid"),
        ("business_number", "text"),
        ("name", "text"),
        ("language", "text"),
        ("category", "text"),
        ("body", "text"),
        ("parameter_count", "int4"),
        ("registered_at", TSTZ),
        ("updated_at", TSTZ),
    ),
)
CONTACTS = Table(
    "contacts",
    ("id",),
    (
        ("id", "uuid"),
        ("business_number", "text"),
        ("wa_id", "text"),
        ("user_id", "text"),
        ("name", "text"),
        ("created_at", TSTZ),
        ("updated_at", TSTZ),
        ("email", "text"),
        ("data", "jsonb"),
    ),
)
CONTACT_KEYS = Table(
    "contact_keys",
    ("business_number", "key"),
    (
        ("business_number", "text"),
        ("key", "text"),
        ("contact_id", "uuid"),
        ("claimed_at", TSTZ),
    ),
)
CONVERSATIONS = Table(
    "conversations",
    ("id",),
    (
        ("id", "uuid"),
        ("lead_id", "uuid"),
        ("business_number", "text"),
        ("session_key", "text"),
        ("channel", "text"),
        ("status", "text"),
        ("message_count", "int4"),
        ("customer_wa_id", "text"),
        ("customer_user_id", "text"),
        ("customer_name", "text"),
        ("created_at", TSTZ),
        ("updated_at", TSTZ),
        ("last_message_at", TSTZ),
        ("last_message_preview", "text"),
        ("opened_by", "text"),
        ("category", "text"),
        ("assistant", "text"),
        ("ai_paused", "bool"),
        ("status_reason", "text"),
        ("status_changed_by", "text"),
        ("status_changed_at", TSTZ),
        ("closed_at", TSTZ),
        ("hand_offs", "int4"),
        ("flow_id", "text"),
        ("flow_step", "text"),
        ("flow_completed", "bool"),
        ("first_customer_message_at", TSTZ),
        ("last_inbound_at", TSTZ),
        ("free_entry_until", TSTZ),
        ("prompt_tokens", "int8"),
        ("completion_tokens", "int8"),
        ("llm_cost", "numeric"),
        ("whatsapp_cost", "numeric"),
        ("assistant_version", "int4"),
        ("cached_tokens", "int8"),
        ("discarded_generations", "int4"),
        ("discarded_llm_cost", "numeric"),
        ("session_data", "jsonb"),
        ("flow_expires_at", TSTZ),
        ("flow_status", "text"),
    ),
)
MESSAGES = Table(
    "messages",
    ("id",),
    (
        ("id", "text"),
        ("conversation_id", "uuid"),
        ("position", "int8"),
        ("role", "text"),
        ("author", "text"),
        ("type", "text"),
        ("content", "text"),
        ("status", "text"),
        ("wamid", "text"),
        ("metadata", "jsonb"),
        ("created_at", TSTZ),
        ("updated_at", TSTZ),
        ("sent_at", TSTZ),
        ("in_reply_to", "text"),
        ("status_history", "jsonb"),
        ("pricing", "jsonb"),
        ("whatsapp_cost", "numeric"),
        ("error_code", "int4"),
        ("error_title", "text"),
        ("original_content", "text"),
        ("edits", "jsonb"),
        ("deleted", "bool"),
        ("deleted_at", TSTZ),
        ("reaction", "text"),
        ("reactions", "jsonb"),
        ("model", "text"),
        ("prompt_tokens", "int4"),
        ("completion_tokens", "int4"),
        ("llm_cost", "numeric"),
        ("cached_tokens", "int4"),
        ("latency_ms", "int4"),
        ("assistant", "text"),
        ("assistant_version", "int4"),
        ("interpretation", "text"),
        ("citations", "jsonb"),
    ),
)
RESPONSE_FACTS = Table(
    "response_facts",
    ("message_id",),
    (
        ("message_id", "text"),
        ("conversation_id", "uuid"),
        ("business_number", "text"),
        ("position", "int8"),
        ("received_at", TSTZ),
        ("sent_at", TSTZ),
        ("answered_at", TSTZ),
        ("answered_by", "text"),
        ("reply_message_id", "text"),
        ("waited_since", TSTZ),
        ("response_seconds", "float8"),
        ("first_unanswered", "bool"),
    ),
)
ATTACHMENTS = Table(
    "attachments",
    ("message_id",),
    (
        ("message_id", "text"),
        ("conversation_id", "uuid"),
        ("position", "int8"),
        ("direction", "text"),
        ("media_id", "text"),
        ("media_type", "text"),
        ("content_type", "text"),
        ("size", "int8"),
        ("sha256", "text"),
        ("file_name", "text"),
        ("caption", "text"),
        ("voice", "bool"),
        ("location", "text"),
        ("status", "text"),
        ("failure_reason", "text"),
        ("refused", "bool"),
        ("created_at", TSTZ),
        ("updated_at", TSTZ),
        ("transcript_status", "text"),
        ("transcript", "text"),
        ("transcript_language", "text"),
        ("transcript_model", "text"),
        ("transcript_seconds", "float8"),
        ("transcript_reason", "text"),
        ("transcript_at", TSTZ),
    ),
)
TOOL_CALLS = Table(
    "tool_calls",
    ("call_id",),
    (
        ("call_id", "text"),
        ("conversation_id", "uuid"),
        ("position", "int8"),
        ("generation_id", "text"),
        ("tool", "text"),
        ("arguments", "jsonb"),
        ("status", "text"),
        ("http_status", "int4"),
        ("latency_ms", "int4"),
        ("mutating", "bool"),
        ("replayed", "bool"),
        ("called_at", TSTZ),
    ),
)

# In the order a batch's rows are written (no foreign keys: any order would do).
TABLES: tuple[Table, ...] = (
    BUSINESS_NUMBERS,
    TEMPLATES,
    CONTACTS,
    CONTACT_KEYS,
    CONVERSATIONS,
    MESSAGES,
    RESPONSE_FACTS,
    ATTACHMENTS,
    TOOL_CALLS,
)


def by_key(table: Table, rows: Sequence[Row]) -> dict[Any, Row]:
    return {table.key_of(row): row for row in rows}
