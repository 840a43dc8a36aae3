"""Writing a batch's `Changes` to the read models: one pipelined statement per kind of row.

Order matters: rows are inserted before they are patched, customer messages wait for an
answer before the batch's replies answer them, and replies run in position order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any, LiteralString

from psycopg import AsyncConnection, AsyncCursor
from psycopg.types.json import Jsonb

from threadline.analytics.adapters.outbound.read_models import statements as sql
from threadline.analytics.domain.write.changes import Changes
from threadline.analytics.domain.write.rows_and_patches import (
    MessagePatch,
    MessageRow,
    ToolCallRow,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Params = dict[str, Any]


async def write(connection: AsyncConnection[Any], changes: Changes) -> None:
    """Apply `changes` inside the caller's transaction."""
    async with connection.cursor() as cursor:
        await _each(cursor, sql.UPSERT_NUMBER, map(_columns, changes.numbers.values()))
        await _each(cursor, sql.PATCH_NUMBER, _keyed(changes.number_patches))
        await _each(cursor, sql.UPSERT_TEMPLATE, map(_columns, changes.templates.values()))
        await _each(cursor, sql.UPSERT_CONTACT, map(_columns, changes.contacts.values()))
        await _each(cursor, sql.PATCH_CONTACT, map(_as_jsonb, _keyed(changes.contact_patches)))
        await _each(cursor, sql.CLAIM_KEY, map(_columns, changes.contact_keys.values()))
        await _each(cursor, sql.INSERT_CONVERSATION, map(_columns, changes.conversations.values()))
        await _each(cursor, sql.INSERT_MESSAGE, map(_message, changes.messages.values()))
        await _each(cursor, sql.AWAIT_ANSWER, map(_columns, changes.waiting.values()))
        await _each(cursor, sql.PATCH_MESSAGE, (_patch(i, p) for i, p in changes.patches.items()))
        await _each(cursor, sql.CHARGE, map(_columns, changes.charges.values()))
        patches = _keyed(changes.conversation_patches)
        await _each(cursor, sql.PATCH_CONVERSATION, map(_as_jsonb, patches))
        await _each(cursor, sql.ANSWER, map(_columns, changes.replies))
        await _each(cursor, sql.UPSERT_ATTACHMENT, map(_columns, changes.attachments.values()))
        await _each(cursor, sql.UPSERT_TRANSCRIPT, map(_columns, changes.transcripts.values()))
        await _each(cursor, sql.INSERT_TOOL_CALL, map(_tool_call, changes.tool_calls.values()))


async def _each(cursor: AsyncCursor[Any], statement: LiteralString, rows: Iterable[Params]) -> None:
    batch = list(rows)
    if batch:
        await cursor.executemany(statement, batch)


def _columns(row: DataclassInstance) -> Params:
    return {column.name: getattr(row, column.name) for column in fields(row)}


def _keyed(patches: Mapping[Any, DataclassInstance]) -> Iterable[Params]:
    return ({**_columns(patch), "id": key} for key, patch in patches.items())


def _as_jsonb(params: Params) -> Params:
    """A contact's or conversation's patch, its collected data (the dicts) as jsonb."""
    return {k: Jsonb(v) if isinstance(v, dict) else v for k, v in params.items()}


def _message(row: MessageRow) -> Params:
    return {
        **_columns(row),
        "metadata": Jsonb(row.metadata),
        "status_history": Jsonb(list(row.status_history)),
        "citations": Jsonb(list(row.citations)),
    }


def _tool_call(row: ToolCallRow) -> Params:
    return {**_columns(row), "arguments": Jsonb(row.arguments)}


def _patch(message_id: str, patch: MessagePatch) -> Params:
    return {
        **_columns(patch),
        "id": message_id,
        "metadata": Jsonb(patch.metadata),
        "status_history": Jsonb(patch.status_history),
        "pricing": None if patch.pricing is None else Jsonb(patch.pricing),
        "edits": Jsonb(patch.edits),
        "reactions": Jsonb(patch.reactions),
    }
