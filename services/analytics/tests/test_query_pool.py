"""The conversation queries' pool over real PostgreSQL: statements on their own (no BEGIN or
COMMIT round trips), the `SELECT 1` check only for connections idle a while, and jsonb read
through orjson."""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest

from threadline.analytics.adapters.outbound.read_models.database import (
    CheckUnlessRecent,
    json_loads,
    open_query_pool,
)


async def test_statements_run_on_their_own_without_a_transaction(database_url: str) -> None:
    pool = await open_query_pool(database_url)
    try:
        async with pool.connection() as connection:
            await connection.execute("SELECT 1")
            assert connection.autocommit
            assert connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    finally:
        await pool.close()


async def test_a_connection_back_moments_ago_is_not_checked_again(database_url: str) -> None:
    check = CheckUnlessRecent(quiet_seconds=60)
    pool = await open_query_pool(database_url, check=check)
    try:
        for _ in range(50):
            async with pool.connection() as connection:
                await connection.execute("SELECT 1")
        # Each connection is checked when first taken; after that, not while it is busy.
        assert 1 <= check.checks <= 8
    finally:
        await pool.close()


async def test_a_connection_that_died_while_idle_is_replaced_before_use(database_url: str) -> None:
    check = CheckUnlessRecent(quiet_seconds=0.2)
    pool = await open_query_pool(database_url, check=check)
    try:
        async with pool.connection() as connection:
            pids = [connection.info.backend_pid]
        # Every connection of the pool dies, as when the database restarts or a proxy closes them.
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        await asyncio.sleep(0.3)
        checks = check.checks

        async with pool.connection() as connection:
            cursor = await connection.execute("SELECT 41 + 1")
            assert await cursor.fetchone() == (42,)
            assert connection.info.backend_pid not in pids

        assert check.checks > checks
    finally:
        await pool.close()


async def test_jsonb_reads_as_the_standard_library_reads_it_but_for_huge_integers(
    database_url: str,
) -> None:
    """The query connections decode jsonb with orjson: the same values as `json.loads`, but an
    integer past 64 bits comes back as the nearest float (documented on `json_loads`)."""
    documents = [
        '{"a": 1, "b": [true, null, 2.5], "c": "ünïcode ✓", "e": "\\u0001"}',
        '[{"nested": {"deep": [1, 2, {"x": -0.000001, "y": 9223372036854775807}]}}]',
        "{}",
    ]
    pool = await open_query_pool(database_url)
    try:
        async with pool.connection() as connection:
            for document in documents:
                cursor = await connection.execute("SELECT %s::jsonb", (document,))
                (value,) = await cursor.fetchone() or (None,)
                assert value == json.loads(document)
            huge = "123456789012345678901234567890"
            cursor = await connection.execute("SELECT %s::jsonb", (f'{{"n": {huge}}}',))
            (value,) = await cursor.fetchone() or (None,)
            assert value == {"n": float(huge)}
    finally:
        await pool.close()


def test_what_orjson_refuses_is_read_by_the_standard_library() -> None:
    assert json_loads(b'{"n": NaN}')["n"] != json_loads(b'{"n": NaN}')["n"]  # NaN
    with pytest.raises(ValueError):
        json_loads(b"not json")
