"""The listing's statements over real PostgreSQL: the count and the page in one statement, the
planner's estimates kept a while per listing and per caller's numbers, rows with interned keys."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from threadline.analytics.application.read import queries
from threadline.analytics.application.read.columns import named_row
from threadline.analytics.application.read.filter_sql import conversation_condition
from threadline.analytics.application.read.queries import (
    COUNT_BOUND,
    ConversationQueries,
    Estimates,
    counted_page,
)
from threadline.analytics.domain.read.criteria import ConversationFilter, Paging
from threadline.servicekit.auth import Principal

EVERYONE = Principal(roles=frozenset({"read"}), numbers=None)
TENANT = Principal(roles=frozenset({"read"}), numbers=frozenset({"15550001111"}))


class CountedCursor:
    """A real cursor that counts the statements it was given."""

    def __init__(self, cursor: psycopg.AsyncCursor[Any]) -> None:
        self.cursor = cursor
        self.statements: list[str] = []

    async def execute(self, statement: sql.Composable, params: Any) -> None:
        self.statements.append(statement.as_string(self.cursor))
        await self.cursor.execute(statement, params)

    async def fetchone(self) -> Any:
        return await self.cursor.fetchone()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_an_estimate_is_kept_for_its_listing_and_its_callers_numbers(
    pool: AsyncConnectionPool[Any],
) -> None:
    clock = Clock()
    estimates = Estimates(keep_seconds=60, size=8, clock=clock)
    async with pool.connection() as connection:
        cursor = CountedCursor(connection.cursor(row_factory=dict_row))

        async def estimate(criteria: ConversationFilter, viewer: Principal) -> int:
            where, params = conversation_condition(criteria, viewer)
            asked = (criteria, viewer.visible_numbers())
            return await estimates.rows(cursor, asked, where, params)  # type: ignore[arg-type]

        everything = ConversationFilter()
        first = await estimate(everything, EVERYONE)
        again = await estimate(everything, EVERYONE)
        assert first == again >= COUNT_BOUND + 1
        assert len(cursor.statements) == 1  # the second came from what was kept
        assert cursor.statements[0].startswith("EXPLAIN")

        await estimate(everything, TENANT)  # another caller's numbers: asked for
        await estimate(ConversationFilter(status="active"), EVERYONE)  # another listing
        assert len(cursor.statements) == 3

        clock.now += 61  # kept no longer
        await estimate(everything, EVERYONE)
        assert len(cursor.statements) == 4


async def test_the_oldest_estimate_is_dropped_past_the_size(
    pool: AsyncConnectionPool[Any],
) -> None:
    estimates = Estimates(keep_seconds=60, size=2, clock=Clock())
    async with pool.connection() as connection:
        cursor = CountedCursor(connection.cursor(row_factory=dict_row))

        async def estimate(status: str) -> None:
            criteria = ConversationFilter(status=status)
            where, params = conversation_condition(criteria, EVERYONE)
            await estimates.rows(cursor, (criteria, None), where, params)  # type: ignore[arg-type]

        for status in ("active", "completed", "escalated"):  # "active" is dropped
            await estimate(status)
        await estimate("escalated")
        await estimate("completed")
        assert len(cursor.statements) == 3
        await estimate("active")
        assert len(cursor.statements) == 4


async def test_an_empty_page_still_carries_the_count(pool: AsyncConnectionPool[Any]) -> None:
    """One statement: every row carries the count; past the last page, a row of the count
    alone, its conversation columns null."""
    async with pool.connection() as connection:
        where, params = conversation_condition(ConversationFilter(), EVERYONE)
        values = {**params, "count_limit": queries.COUNT_BOUND + 1, "limit": 20, "offset": 40}
        cursor = connection.cursor(row_factory=dict_row)
        await cursor.execute(counted_page(where), values)
        rows = await cursor.fetchall()
        assert [(row["total"], row["id"]) for row in rows] == [(0, None)]


async def test_rows_are_read_with_interned_column_names(database_url: str) -> None:
    """So that `View(**row)` matches its keywords by identity, not by comparing strings."""
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        cursor = connection.cursor(row_factory=named_row)
        await cursor.execute("SELECT 1 AS first_column_name, 'x' AS second_column_name")
        row = await cursor.fetchone()
        assert row == {"first_column_name": 1, "second_column_name": "x"}
        assert all(key is sys.intern(key) for key in row)
        await cursor.execute("SET application_name = 'no rows'")  # a result without rows


async def test_a_listing_is_not_counted_while_its_estimate_is_kept_far_past_the_bound(
    pool: AsyncConnectionPool[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept estimate is given until it is too old; then the listing is counted again."""
    monkeypatch.setattr(queries, "COUNT_BOUND", 1)
    now = datetime.now(UTC)
    async with pool.connection() as connection:
        for n in range(6):
            await connection.execute(
                "INSERT INTO analytics.conversations"
                " (id, lead_id, business_number, channel, status, created_at, updated_at)"
                " VALUES (%s, %s, '15550001111', 'whatsapp', 'active', %s, %s)",
                (uuid4(), uuid4(), now, now - timedelta(minutes=n)),
            )
        await connection.execute("ANALYZE analytics.conversations")
    clock = Clock()
    listing = ConversationQueries(pool, estimates=Estimates(keep_seconds=60, clock=clock))
    everything, two = ConversationFilter(), Paging.of(0, 2)

    first = await listing.list_conversations(EVERYONE, everything, two)
    assert (first.total, first.total_estimated, len(first.conversations)) == (6, True, 2)

    async with pool.connection() as connection:
        await connection.execute(
            "DELETE FROM analytics.conversations WHERE id <> %s", (first.conversations[0].id,)
        )
    kept = await listing.list_conversations(EVERYONE, everything, two)
    assert (kept.total, kept.total_estimated) == (6, True)  # not counted: the kept estimate
    assert [c.id for c in kept.conversations] == [first.conversations[0].id]

    clock.now += 61
    counted = await listing.list_conversations(EVERYONE, everything, two)
    assert (counted.total, counted.total_estimated) == (1, False)
