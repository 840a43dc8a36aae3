"""The `analytics` schema, brought up to date at start by an ordered list of migrations.

The migrations not yet recorded in `analytics.schema_migrations` run in one transaction; an
advisory lock keeps two instances starting together from running one twice. Append, never edit.
"""

from __future__ import annotations

import logging
from typing import Any, LiteralString

from psycopg import AsyncConnection

from threadline.analytics.adapters.outbound.read_models import (
    migration_2,
    migration_3,
    migration_4,
    migration_5,
    migration_6,
    migration_7,
    migration_8,
    migration_9,
)

log = logging.getLogger(__name__)

SCHEMA = "analytics"
_LOCK_KEY = 0x7468726561646C6E  # "threadln": one advisory lock for every migrating instance

MIGRATIONS: tuple[tuple[LiteralString, ...], ...] = (
    (
        """
        CREATE TABLE analytics.contacts (
            id uuid PRIMARY KEY,
            business_number text NOT NULL,
            wa_id text NOT NULL DEFAULT '',
            user_id text NOT NULL DEFAULT '',
            name text NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )
        """,
        """
        CREATE TABLE analytics.conversations (
            id uuid PRIMARY KEY,
            lead_id uuid NOT NULL,
            business_number text NOT NULL,
            session_key text NOT NULL DEFAULT '',
            channel text NOT NULL,
            status text NOT NULL,
            message_count integer NOT NULL DEFAULT 0,
            customer_wa_id text NOT NULL DEFAULT '',
            customer_user_id text NOT NULL DEFAULT '',
            customer_name text NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            last_message_at timestamptz,
            last_message_preview text NOT NULL DEFAULT '',
            last_activity_at timestamptz
                GENERATED ALWAYS AS (coalesce(last_message_at, created_at)) STORED
        )
        """,
        """
        CREATE INDEX conversations_by_activity
            ON analytics.conversations (last_activity_at DESC, id DESC)
        """,
        """
        CREATE INDEX conversations_by_number
            ON analytics.conversations (business_number, last_activity_at DESC, id DESC)
        """,
        """
        CREATE INDEX conversations_by_lead
            ON analytics.conversations (lead_id, last_activity_at DESC)
        """,
        """
        CREATE INDEX conversations_by_customer
            ON analytics.conversations (customer_wa_id, last_activity_at DESC)
        """,
        """
        CREATE TABLE analytics.messages (
            id text PRIMARY KEY,
            conversation_id uuid NOT NULL,
            position bigint NOT NULL,
            role text NOT NULL,
            author text NOT NULL,
            type text NOT NULL DEFAULT '',
            content text NOT NULL DEFAULT '',
            status text NOT NULL,
            wamid text NOT NULL DEFAULT '',
            metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )
        """,
        """
        CREATE INDEX messages_by_conversation
            ON analytics.messages (conversation_id, created_at, position)
        """,
        """
        CREATE TABLE analytics.projection_positions (
            name text PRIMARY KEY,
            position bigint NOT NULL
        )
        """,
    ),
    migration_2.STATEMENTS,
    migration_3.STATEMENTS,
    migration_4.STATEMENTS,
    migration_5.STATEMENTS,
    migration_6.STATEMENTS,
    migration_7.STATEMENTS,
    migration_8.STATEMENTS,
    migration_9.STATEMENTS,
)


async def migrate(connection: AsyncConnection[Any]) -> int:
    """Apply the migrations not applied yet; returns the schema version now in place."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        await connection.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        await connection.execute(
            """
            CREATE TABLE IF NOT EXISTS analytics.schema_migrations (
                version integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        cursor = await connection.execute(
            "SELECT coalesce(max(version), 0) FROM analytics.schema_migrations"
        )
        row = await cursor.fetchone()
        current = int(row[0]) if row else 0
        for version, statements in enumerate(MIGRATIONS[current:], start=current + 1):
            for statement in statements:
                await connection.execute(statement)
            await connection.execute(
                "INSERT INTO analytics.schema_migrations (version) VALUES (%s)", (version,)
            )
            log.info("analytics schema migrated to version %d", version)
    return len(MIGRATIONS)
