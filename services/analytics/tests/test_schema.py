from __future__ import annotations

import psycopg

from threadline.analytics.read_models.schema import MIGRATIONS, migrate


async def test_migrating_twice_leaves_one_record_per_migration(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        await migrate(connection)

        version = await migrate(connection)

        cursor = await connection.execute("SELECT version FROM analytics.schema_migrations")
        assert [row[0] for row in await cursor.fetchall()] == list(range(1, len(MIGRATIONS) + 1))
        assert version == len(MIGRATIONS)


async def test_the_read_models_live_in_the_analytics_schema(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        await migrate(connection)

        cursor = await connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analytics'"
        )
        tables = {row[0] for row in await cursor.fetchall()}

    assert {"contacts", "conversations", "messages", "projection_positions"} <= tables
