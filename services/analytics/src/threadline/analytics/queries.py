"""The conversation queries: what a caller may read of the read models.

Every query needs the `read` role and sees only the business numbers the caller is scoped to;
another tenant's conversation is indistinguishable from one that does not exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, LiteralString
from uuid import UUID

from psycopg import AsyncCursor, sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from threadline.analytics.criteria import ConversationFilter, MessageWindow, Paging
from threadline.analytics.errors import ConversationNotFound
from threadline.analytics.views import (
    ConversationDetail,
    ConversationPage,
    ConversationView,
    Lead,
    MessagePage,
    MessageView,
)
from threadline.servicekit.auth import Principal

_CONVERSATIONS: LiteralString = """
    SELECT c.id, c.lead_id, c.business_number, c.session_key, c.channel, c.status,
           c.message_count, c.created_at, c.updated_at, c.last_message_at,
           c.last_message_preview,
           coalesce(nullif(ct.wa_id, ''), c.customer_wa_id) AS lead_wa_id,
           coalesce(nullif(ct.user_id, ''), c.customer_user_id) AS lead_user_id,
           coalesce(nullif(ct.name, ''), c.customer_name) AS lead_name
    FROM analytics.conversations c
    LEFT JOIN analytics.contacts ct ON ct.id = c.lead_id
"""
_MESSAGES: LiteralString = """
    SELECT id, conversation_id, role, author, type, content, status, wamid, metadata,
           created_at, updated_at
    FROM analytics.messages WHERE conversation_id = %(conversation_id)s
    ORDER BY created_at, position
"""
_COUNT_MESSAGES: LiteralString = """
    SELECT count(*) AS total FROM analytics.messages WHERE conversation_id = %(conversation_id)s
"""
_COUNT = sql.SQL("SELECT count(*) AS total FROM analytics.conversations c WHERE {}")
_PAGE = sql.SQL(
    _CONVERSATIONS
    + " WHERE {} ORDER BY c.last_activity_at DESC, c.id DESC LIMIT %(limit)s OFFSET %(offset)s"
)
_ALL = sql.SQL("TRUE")
_FILTERS: dict[str, LiteralString] = {
    "numbers": "c.business_number = ANY(%(numbers)s)",
    "lead_id": "c.lead_id = %(lead_id)s",
    "status": "c.status = %(status)s",
    "channel": "c.channel = %(channel)s",
    "business_number": "c.business_number = %(business_number)s",
    "customer_phone": "c.customer_wa_id = %(customer_phone)s",
}

Cursor = AsyncCursor[DictRow]


class ConversationQueries:
    """Reads of conversations and their messages, on behalf of a caller."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def list_conversations(
        self, viewer: Principal, criteria: ConversationFilter, paging: Paging
    ) -> ConversationPage:
        """Conversations meeting `criteria`, the most recently active first."""
        viewer.require_role("read")
        params: dict[str, object] = {**criteria.conditions(), **_scope(viewer)}
        where = sql.SQL(" AND ").join([sql.SQL(_FILTERS[name]) for name in params] or [_ALL])
        async with self._cursor() as cursor:
            await cursor.execute(_COUNT.format(where), params)
            total = int((await cursor.fetchone() or {"total": 0})["total"])
            await cursor.execute(
                _PAGE.format(where), {**params, "limit": paging.size, "offset": paging.offset}
            )
            found = tuple(_conversation(row) for row in await cursor.fetchall())
        return ConversationPage(found, total=total, page=paging.page, size=paging.size)

    async def get_conversation(
        self, viewer: Principal, conversation_id: UUID
    ) -> ConversationDetail:
        """The conversation with all its messages, oldest first."""
        viewer.require_role("read")
        async with self._cursor() as cursor:
            conversation = await _visible(cursor, viewer, conversation_id)
            await cursor.execute(_MESSAGES, {"conversation_id": conversation_id})
            messages = tuple(MessageView(**row) for row in await cursor.fetchall())
        return ConversationDetail(conversation, messages)

    async def list_messages(
        self, viewer: Principal, conversation_id: UUID, window: MessageWindow
    ) -> MessagePage:
        """A window of the conversation's messages, oldest first, and how many there are."""
        viewer.require_role("read")
        async with self._cursor() as cursor:
            await _visible(cursor, viewer, conversation_id)
            await cursor.execute(_COUNT_MESSAGES, {"conversation_id": conversation_id})
            total = int((await cursor.fetchone() or {"total": 0})["total"])
            await cursor.execute(
                _MESSAGES + " LIMIT %(limit)s OFFSET %(offset)s",
                {"conversation_id": conversation_id, **_window(window)},
            )
            messages = tuple(MessageView(**row) for row in await cursor.fetchall())
        return MessagePage(messages, total=total)

    @asynccontextmanager
    async def _cursor(self) -> AsyncIterator[Cursor]:
        async with (
            self._pool.connection() as connection,
            connection.cursor(row_factory=dict_row) as cursor,
        ):
            yield cursor


async def _visible(cursor: Cursor, viewer: Principal, conversation_id: UUID) -> ConversationView:
    await cursor.execute(_CONVERSATIONS + " WHERE c.id = %(id)s", {"id": conversation_id})
    row = await cursor.fetchone()
    if row is None or not viewer.can_see(row["business_number"]):
        raise ConversationNotFound(conversation_id)
    return _conversation(row)


def _scope(viewer: Principal) -> dict[str, object]:
    numbers = viewer.visible_numbers()
    return {} if numbers is None else {"numbers": sorted(numbers)}


def _window(window: MessageWindow) -> dict[str, int]:
    return {"limit": window.limit, "offset": window.offset}


def _conversation(row: DictRow) -> ConversationView:
    lead = Lead(row["lead_id"], row["lead_wa_id"], row["lead_user_id"], row["lead_name"])
    return ConversationView(
        id=row["id"],
        lead_id=row["lead_id"],
        business_number=row["business_number"],
        session_key=row["session_key"],
        channel=row["channel"],
        status=row["status"],
        message_count=row["message_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_message_at=row["last_message_at"],
        last_message_preview=row["last_message_preview"],
        lead=lead,
    )
