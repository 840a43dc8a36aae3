from __future__ import annotations

import psycopg

from threadline.analytics.adapters.outbound.read_models.schema import MIGRATIONS, migrate


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

    assert {
        "contacts",
        "contact_keys",
        "conversations",
        "messages",
        "business_numbers",
        "templates",
        "response_facts",
        "responses",
        "projection_positions",
        "attachments",
        "tool_calls",
    } <= tables


async def test_rows_projected_before_version_2_get_the_sessions_defaults(
    database_url: str,
) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        await connection.execute("CREATE SCHEMA analytics")
        await connection.execute(
            "CREATE TABLE analytics.schema_migrations"
            " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for statement in MIGRATIONS[0]:
            await connection.execute(statement)
        await connection.execute("INSERT INTO analytics.schema_migrations (version) VALUES (1)")
        await connection.execute(
            "INSERT INTO analytics.conversations (id, lead_id, business_number, channel, status,"
            " created_at, updated_at) VALUES (gen_random_uuid(), gen_random_uuid(), 'pn-1',"
            " 'whatsapp', 'active', now(), now())"
        )
        await connection.commit()

        await migrate(connection)

        cursor = await connection.execute(
            "SELECT opened_by, category, hand_offs, tokens, cost FROM analytics.conversations"
        )
        assert await cursor.fetchall() == [("customer", "SERVICE", 0, 0, 0)]
