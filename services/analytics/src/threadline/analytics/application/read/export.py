"""Exports of conversations (and their messages) as a stream of byte chunks, in constant memory.

Rows come from a server-side cursor a batch at a time and leave as chunks of whole records of
at most `CHUNK_BYTES` (a single larger record travels alone); nothing holds the whole result.
Closing the stream early (the client cancelled) closes the cursor and frees the connection.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, LiteralString
from uuid import UUID, uuid4

from psycopg import sql
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool

from threadline.analytics.application.read.columns import (
    CONVERSATION_COLUMNS,
    MESSAGE_COLUMNS,
    conversation_view,
    named_row,
)
from threadline.analytics.application.read.export_formats import (
    FORMATS,
    ExportFormat,
    export_format,
)
from threadline.analytics.application.read.filter_sql import reported_condition
from threadline.analytics.domain.read.criteria import ConversationFilter
from threadline.analytics.domain.read.errors import InvalidQuery
from threadline.analytics.domain.read.views import MessageView
from threadline.servicekit.auth import Principal
from threadline.servicekit.errors import quoted

CHUNK_BYTES = 64 * 1024
ROWS_PER_FETCH = 500

_MESSAGE_NAMES = tuple(name.strip() for name in MESSAGE_COLUMNS.split(","))
_PREFIX = "m__"  # no conversation column starts so
# The message's columns renamed `m__<column>`, beside the conversation's.
_JOINED_MESSAGE_COLUMNS = sql.SQL(", ").join(
    sql.SQL("m.{} AS {}").format(sql.Identifier(name), sql.Identifier(_PREFIX + name))
    for name in _MESSAGE_NAMES
)
_FROM: LiteralString = """
    FROM analytics.conversations c
    LEFT JOIN analytics.contacts ct ON ct.id = c.lead_id
"""
_CONVERSATIONS = sql.SQL(
    "SELECT " + CONVERSATION_COLUMNS + _FROM + " WHERE {} ORDER BY c.created_at, c.id"
)
_WITH_MESSAGES = sql.SQL(
    "SELECT "
    + CONVERSATION_COLUMNS
    + ", {} "
    + _FROM
    + """
    LEFT JOIN analytics.messages m ON m.conversation_id = c.id
    WHERE {}
    ORDER BY c.created_at, c.id, m.created_at, m.position
    """
)


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """Which conversations, in which format (`csv` or `jsonl`), with or without messages."""

    criteria: ConversationFilter
    format: str = "csv"
    include_messages: bool = False

    @classmethod
    def of(
        cls, criteria: ConversationFilter, format: str, *, include_messages: bool
    ) -> ExportRequest:
        name = format.strip().lower() or "csv"
        if name not in FORMATS:
            raise InvalidQuery(
                f"format must be one of {', '.join(FORMATS)} (default csv), got {quoted(format)}"
            )
        return cls(criteria, name, include_messages)


class ConversationExports:
    """Exports on behalf of a caller, over the business numbers it may see."""

    def __init__(self, pool: AsyncConnectionPool[Any], *, chunk_bytes: int = CHUNK_BYTES) -> None:
        self._pool = pool
        self._chunk_bytes = chunk_bytes

    async def chunks(
        self, viewer: Principal, request: ExportRequest
    ) -> AsyncGenerator[bytes, None]:
        """The export, oldest conversation first, in chunks of whole records."""
        viewer.require_role("read")
        writer = export_format(request.format, include_messages=request.include_messages)
        pending: list[bytes] = []
        size = 0
        async with aclosing(self._records(viewer, request, writer)) as records:
            async for record in records:
                data = record.encode()
                if pending and size + len(data) > self._chunk_bytes:
                    yield b"".join(pending)
                    pending.clear()
                    size = 0
                pending.append(data)
                size += len(data)
        if pending:
            yield b"".join(pending)

    async def _records(
        self, viewer: Principal, request: ExportRequest, writer: ExportFormat
    ) -> AsyncGenerator[str, None]:
        """The header, then each conversation followed by its messages."""
        header = writer.header()
        if header:
            yield header
        previous: UUID | None = None
        async with aclosing(self._rows(viewer, request)) as rows:
            async for row in rows:
                if row["id"] != previous:
                    previous = row["id"]
                    yield writer.conversation(conversation_view(_conversation_part(row)))
                if row.get(_PREFIX + "id") is not None:
                    yield writer.message(_message_part(row))

    async def _rows(
        self, viewer: Principal, request: ExportRequest
    ) -> AsyncGenerator[DictRow, None]:
        where, params = reported_condition(request.criteria, viewer)
        if request.include_messages:
            query = _WITH_MESSAGES.format(_JOINED_MESSAGE_COLUMNS, where)
        else:
            query = _CONVERSATIONS.format(where)
        # A named cursor lives on the server: rows cross ROWS_PER_FETCH at a time.
        async with (
            self._pool.connection() as connection,
            connection.transaction(),
            connection.cursor(name=f"export_{uuid4().hex}", row_factory=named_row) as cursor,
        ):
            cursor.itersize = ROWS_PER_FETCH
            await cursor.execute(query, params)
            async for row in cursor:
                yield row


def _conversation_part(row: DictRow) -> DictRow:
    return {name: value for name, value in row.items() if not name.startswith(_PREFIX)}


def _message_part(row: DictRow) -> MessageView:
    return MessageView(**{name: row[_PREFIX + name] for name in _MESSAGE_NAMES})
