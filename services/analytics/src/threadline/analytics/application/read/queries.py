"""The conversation queries: what a caller may read of the read models.

Every query needs the `read` role and sees only the business numbers the caller is scoped to;
another tenant's conversation (or customer) is indistinguishable from one that does not exist.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, LiteralString
from uuid import UUID

from psycopg import AsyncCursor, sql
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool

from threadline.analytics.application.read.columns import (
    CONVERSATION_COLUMNS,
    MESSAGE_COLUMNS,
    TOOL_CALL_COLUMNS,
    attachment_view,
    conversation_view,
    message_view,
    named_row,
    tool_call_view,
)
from threadline.analytics.application.read.filter_sql import conversation_condition
from threadline.analytics.domain.read.criteria import (
    ConversationFilter,
    CustomerRef,
    MessageWindow,
    Paging,
)
from threadline.analytics.domain.read.errors import (
    UnknownAttachment,
    UnknownConversation,
    UnknownCustomer,
)
from threadline.analytics.domain.read.views import (
    AttachmentPage,
    AttachmentView,
    ConversationDetail,
    ConversationPage,
    ConversationView,
    MessagePage,
    SessionStatus,
    TemplateView,
    ToolCallPage,
)
from threadline.analytics.domain.read.window import customer_window
from threadline.servicekit.auth import Principal
from threadline.servicekit.clock import Clock, utc_now

_CONVERSATIONS: LiteralString = (
    "SELECT "
    + CONVERSATION_COLUMNS
    + """
    FROM analytics.conversations c
    LEFT JOIN analytics.contacts ct ON ct.id = c.lead_id
"""
)
_MESSAGES: LiteralString = (
    "SELECT "
    + MESSAGE_COLUMNS
    + """
    FROM analytics.messages WHERE conversation_id = %(conversation_id)s
    ORDER BY created_at, position
"""
)
_COUNT_MESSAGES: LiteralString = """
    SELECT count(*) AS total FROM analytics.messages WHERE conversation_id = %(conversation_id)s
"""
_ATTACHMENT_COLUMNS: LiteralString = """
    message_id, conversation_id, direction, media_type, content_type, size, sha256,
    file_name, caption, voice, status, failure_reason, refused, created_at, updated_at,
    transcript_status, transcript, transcript_language, transcript_model,
    transcript_seconds, transcript_reason, transcript_at
"""
# `location` is left out: where the store keeps a file is the gateway's business only.
_ATTACHMENTS: LiteralString = (
    "SELECT "
    + _ATTACHMENT_COLUMNS
    + """
    FROM analytics.attachments
    WHERE conversation_id = %(conversation_id)s
      AND (%(media_type)s = '' OR media_type = %(media_type)s)
    ORDER BY created_at, position
    LIMIT %(limit)s OFFSET %(offset)s
"""
)
# One kept file, with its location, for the gateway to serve.
_STORED_ATTACHMENT: LiteralString = (
    "SELECT "
    + _ATTACHMENT_COLUMNS
    + """, location
    FROM analytics.attachments
    WHERE conversation_id = %(conversation_id)s AND message_id = %(message_id)s
      AND status = 'stored' AND location <> ''
"""
)
_COUNT_ATTACHMENTS: LiteralString = """
    SELECT count(*) AS total FROM analytics.attachments
    WHERE conversation_id = %(conversation_id)s
      AND (%(media_type)s = '' OR media_type = %(media_type)s)
"""
_TOOL_CALLS: LiteralString = (
    "SELECT "
    + TOOL_CALL_COLUMNS
    + """
    FROM analytics.tool_calls WHERE conversation_id = %(conversation_id)s
    ORDER BY called_at, position
    LIMIT %(limit)s OFFSET %(offset)s
"""
)
_COUNT_TOOL_CALLS: LiteralString = """
    SELECT count(*) AS total FROM analytics.tool_calls WHERE conversation_id = %(conversation_id)s
"""
# `total` is counted exactly up to COUNT_BOUND (the count stops there: at most that many index
# entries read, however many match); past it, the planner's estimate of the rows matching is
# given instead, marked as one. Counting 100,000 matches exactly cost a list's page 1 tens of
# milliseconds in `make bench`; a page of an inbox needs "10,000+" or "about 73,000", not more.
COUNT_BOUND = 10_000
_COUNT = sql.SQL(
    "SELECT count(*) AS total FROM "
    "(SELECT 1 FROM analytics.conversations c WHERE {} LIMIT %(count_limit)s) matching"
)
_ESTIMATE = sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM analytics.conversations c WHERE {}")
# The page's ids come off the activity index first; only those rows are joined to their
# contacts (joining every skipped row made deep pages ~15x slower in `make bench`).
_PAGE = sql.SQL(
    "SELECT c.last_activity_at AS listed_at, "
    + CONVERSATION_COLUMNS
    + """
    FROM (SELECT c.id FROM analytics.conversations c WHERE {}
          ORDER BY c.last_activity_at DESC, c.id DESC LIMIT %(limit)s OFFSET %(offset)s) page
    JOIN analytics.conversations c ON c.id = page.id
    LEFT JOIN analytics.contacts ct ON ct.id = c.lead_id
    ORDER BY c.last_activity_at DESC, c.id DESC
"""
)
# A listing whose kept estimate is past this many times the bound is not counted: the estimate
# is given (counting 10,001 index entries was ~80 % of PostgreSQL's time for an unfiltered
# page 1 in `make bench`; issue 15). Once the estimate is no longer kept, the next listing
# counts again, so a count that falls under the bound shows within `Estimates`' keep.
UNCOUNTED_PAST = 2
# The count and the page in one statement, one round trip: every row carries the count, and
# an empty page is one row of the count alone (its columns null). Two statements cost the
# service ~0.2 ms more CPU a listing than one (issue 15).
_COUNTED_PAGE = sql.SQL(
    "SELECT matching.total, listed.* FROM ({count}) matching"
    " LEFT JOIN LATERAL ({page}) listed ON true"
    " ORDER BY listed.listed_at DESC, listed.id DESC"
)


def counted_page(where: sql.Composable) -> sql.Composed:
    """The listing statement for `where`: its parameters are those of `where` with
    `count_limit`, `limit` and `offset`."""
    return _COUNTED_PAGE.format(count=_COUNT.format(where), page=_PAGE.format(where))


# The customer's latest conversation on the number, found by any id the session linked.
_LATEST_CONVERSATION: LiteralString = """
    WITH customer AS (
        SELECT contact_id AS id FROM analytics.contact_keys
        WHERE business_number = %(number)s AND key = %(key)s
        UNION
        SELECT id FROM analytics.contacts
        WHERE business_number = %(number)s AND (wa_id = %(wa_id)s OR user_id = %(user_id)s)
    )
    SELECT id, status, last_inbound_at, free_entry_until FROM analytics.conversations
    WHERE business_number = %(number)s
      AND (lead_id IN (SELECT id FROM customer) OR customer_wa_id = %(wa_id)s)
    ORDER BY created_at DESC, id DESC
    LIMIT 1
"""
_TEMPLATES: LiteralString = """
    SELECT name, language, category, parameter_count FROM analytics.templates
    WHERE business_number = %(number)s ORDER BY name, language
"""

Cursor = AsyncCursor[DictRow]


class ConversationQueries:
    """Reads of conversations, their messages and customers' windows, on behalf of a caller."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        clock: Clock = utc_now,
        estimates: Estimates | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._estimates = estimates or Estimates(clock=time.monotonic)

    async def list_conversations(
        self, viewer: Principal, criteria: ConversationFilter, paging: Paging
    ) -> ConversationPage:
        """Conversations meeting `criteria`, the most recently active first."""
        viewer.require_role("read")
        asked = (criteria, viewer.visible_numbers())
        where, params = conversation_condition(criteria, viewer)
        page = {**params, "limit": paging.size, "offset": paging.offset}
        async with self._cursor() as cursor:
            kept = self._estimates.kept(asked)
            if kept is not None and kept > UNCOUNTED_PAST * COUNT_BOUND:
                await cursor.execute(_PAGE.format(where), page)
                found = tuple(_listed(row) for row in await cursor.fetchall())
                return ConversationPage(
                    found, total=kept, page=paging.page, size=paging.size, total_estimated=True
                )
            await cursor.execute(counted_page(where), {**page, "count_limit": COUNT_BOUND + 1})
            rows = await cursor.fetchall()
            total = int(rows[0]["total"]) if rows else 0
            found = tuple(_listed(row) for row in rows if row["id"] is not None)
            estimated = total > COUNT_BOUND
            if estimated:
                total = await self._estimates.rows(cursor, asked, where, params)
        return ConversationPage(
            found, total=total, page=paging.page, size=paging.size, total_estimated=estimated
        )

    async def get_conversation(
        self, viewer: Principal, conversation_id: UUID
    ) -> ConversationDetail:
        """The conversation with all its messages, oldest first."""
        viewer.require_role("read")
        async with self._cursor() as cursor:
            conversation = await _visible(cursor, viewer, conversation_id)
            await cursor.execute(_MESSAGES, {"conversation_id": conversation_id})
            messages = tuple(message_view(row) for row in await cursor.fetchall())
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
            messages = tuple(message_view(row) for row in await cursor.fetchall())
        return MessagePage(messages, total=total)

    async def list_attachments(
        self, viewer: Principal, conversation_id: UUID, media_type: str, paging: Paging
    ) -> AttachmentPage:
        """A page of the conversation's attachments of `media_type` ("" for all), oldest
        first, and how many there are."""
        viewer.require_role("read")
        params = {
            "conversation_id": conversation_id,
            "media_type": media_type,
            "limit": paging.size,
            "offset": paging.offset,
        }
        async with self._cursor() as cursor:
            await _visible(cursor, viewer, conversation_id)
            await cursor.execute(_COUNT_ATTACHMENTS, params)
            total = int((await cursor.fetchone() or {"total": 0})["total"])
            await cursor.execute(_ATTACHMENTS, params)
            found = tuple(attachment_view(row) for row in await cursor.fetchall())
        return AttachmentPage(found, total=total, page=paging.page, size=paging.size)

    async def stored_attachment(
        self, viewer: Principal, conversation_id: UUID, message_id: str
    ) -> tuple[AttachmentView, str]:
        """The conversation's attachment `message_id` and where the media store keeps it;
        UnknownAttachment unless it is stored."""
        viewer.require_role("read")
        params = {"conversation_id": conversation_id, "message_id": message_id}
        async with self._cursor() as cursor:
            await _visible(cursor, viewer, conversation_id)
            await cursor.execute(_STORED_ATTACHMENT, params)
            row = await cursor.fetchone()
        if row is None:
            raise UnknownAttachment(conversation_id, message_id)
        location = str(row.pop("location"))
        return attachment_view(row), location

    async def list_tool_calls(
        self, viewer: Principal, conversation_id: UUID, paging: Paging
    ) -> ToolCallPage:
        """A page of the conversation's tool calls, oldest first, and how many there are."""
        viewer.require_role("read")
        params = {"conversation_id": conversation_id, "limit": paging.size, "offset": paging.offset}
        async with self._cursor() as cursor:
            await _visible(cursor, viewer, conversation_id)
            await cursor.execute(_COUNT_TOOL_CALLS, params)
            total = int((await cursor.fetchone() or {"total": 0})["total"])
            await cursor.execute(_TOOL_CALLS, params)
            found = tuple(tool_call_view(row) for row in await cursor.fetchall())
        return ToolCallPage(found, total=total, page=paging.page, size=paging.size)

    async def session_status(self, viewer: Principal, customer: CustomerRef) -> SessionStatus:
        """The window with this customer now, and the number's templates when it is closed."""
        viewer.require_role("read")
        if not viewer.can_see(customer.business_number):
            raise UnknownCustomer(customer.business_number, customer.wa_id or customer.user_id)
        async with self._cursor() as cursor:
            await cursor.execute(_LATEST_CONVERSATION, _customer_params(customer))
            latest = await cursor.fetchone()
            if latest is None:
                raise UnknownCustomer(customer.business_number, customer.wa_id or customer.user_id)
            window = customer_window(
                last_inbound_at=latest["last_inbound_at"],
                free_entry_until=latest["free_entry_until"],
                conversation_status=latest["status"],
                now=self._clock(),
            )
            templates: tuple[TemplateView, ...] = ()
            if not window.active:
                await cursor.execute(_TEMPLATES, {"number": customer.business_number})
                templates = tuple(TemplateView(**row) for row in await cursor.fetchall())
        return SessionStatus(
            window_active=window.active,
            last_inbound_at=latest["last_inbound_at"],
            expires_at=window.expires_at,
            remaining_minutes=window.remaining_minutes,
            conversation_id=latest["id"],
            templates=templates,
        )

    @asynccontextmanager
    async def _cursor(self) -> AsyncIterator[Cursor]:
        async with (
            self._pool.connection() as connection,
            connection.cursor(row_factory=named_row) as cursor,
        ):
            yield cursor


async def _visible(cursor: Cursor, viewer: Principal, conversation_id: UUID) -> ConversationView:
    await cursor.execute(_CONVERSATIONS + " WHERE c.id = %(id)s", {"id": conversation_id})
    row = await cursor.fetchone()
    if row is None or not viewer.can_see(row["business_number"]):
        raise UnknownConversation(conversation_id)
    return conversation_view(row)


def _customer_params(customer: CustomerRef) -> dict[str, object]:
    # The id not given is NULL, which equals nothing (an empty string would match rows
    # that lack that id).
    return {
        "number": customer.business_number,
        "key": customer.key,
        "wa_id": customer.wa_id or None,
        "user_id": customer.user_id or None,
    }


def _window(window: MessageWindow) -> dict[str, int]:
    return {"limit": window.limit, "offset": window.offset}


def _listed(row: DictRow) -> ConversationView:
    row.pop("total", None)
    del row["listed_at"]
    return conversation_view(row)


# What a listing asked and of which numbers (None: every number): the key of an estimate.
Asked = tuple[ConversationFilter, frozenset[str] | None]


class Estimates:
    """The planner's estimates of how many conversations a listing matches, each kept for
    `keep_seconds`: an estimate moves only when PostgreSQL analyses the table again, and
    asking for it (an EXPLAIN) was a third of an unfiltered listing's statements (issue 15).
    While one is kept far past the bound the listing is not counted at all. At most `size`
    listings are kept, the oldest dropped first."""

    def __init__(
        self, *, keep_seconds: float = 60.0, size: int = 1024, clock: Callable[[], float]
    ) -> None:
        self._keep = keep_seconds
        self._size = size
        self._clock = clock
        self._kept: dict[Asked, tuple[float, int]] = {}

    def kept(self, asked: Asked) -> int | None:
        """The estimate kept for `asked`, unless there is none or it is too old."""
        kept = self._kept.get(asked)
        if kept is None or self._clock() - kept[0] >= self._keep:
            return None
        return kept[1]

    async def rows(
        self, cursor: Cursor, asked: Asked, where: sql.Composable, params: Mapping[str, Any]
    ) -> int:
        """The estimate for `asked` (whose condition is `where`), kept or asked for; never
        less than COUNT_BOUND + 1 (asked only past the bound)."""
        if (kept := self.kept(asked)) is not None:
            return kept
        now = self._clock()
        await cursor.execute(_ESTIMATE.format(where), params)
        row = await cursor.fetchone()
        planned = int(row["QUERY PLAN"][0]["Plan"]["Plan Rows"]) if row else 0
        estimate = max(planned, COUNT_BOUND + 1)
        self._kept.pop(asked, None)
        if len(self._kept) >= self._size:
            del self._kept[next(iter(self._kept))]
        self._kept[asked] = (now, estimate)
        return estimate
