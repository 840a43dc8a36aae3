"""The PostgreSQL side of a rebuild, on one synchronous connection the rebuild owns.

`PostgresRebuild` is a full replay's `RebuildDatabase`: the rebuild schema beside `analytics`,
the replay lock, and the switch. `PostgresConversationRows` is one conversation's rebuild in
place (`ConversationRows`) in `analytics` itself.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any
from uuid import UUID

import psycopg
from psycopg import Connection, sql

from threadline.analytics.adapters.outbound.read_models.lock import HOLD, PROJECTIONS_LOCK
from threadline.analytics.adapters.outbound.read_models.positions import row_pattern
from threadline.analytics.adapters.outbound.read_models.rebuild import schemas
from threadline.analytics.adapters.outbound.read_models.rebuild.store import SchemaStore
from threadline.analytics.adapters.outbound.read_models.schema import MIGRATIONS, SCHEMA
from threadline.analytics.application.write.rebuild.ports import SchemaMismatch

REPLAY_LOCK = 0x74686C6E7265706C  # "thlnrepl": held by the one replay running


class PostgresRebuild:
    """A replay into `schema` (by default `analytics_rebuild`) on `connection`."""

    def __init__(self, connection: Connection[Any], schema: str = schemas.REBUILD_SCHEMA) -> None:
        self.connection, self.schema = connection, schema
        self._store = SchemaStore(connection, schema)

    @property
    def store(self) -> SchemaStore:
        return self._store

    @property
    def live_schema(self) -> str:
        return SCHEMA

    def transaction(self) -> AbstractContextManager[object]:
        return self.connection.transaction()

    def claim(self) -> bool:
        row = self.connection.execute("SELECT pg_try_advisory_lock(%s)", (REPLAY_LOCK,))
        claimed = row.fetchone()
        self.connection.commit()
        return bool(claimed and claimed[0])

    def release(self) -> None:
        with contextlib.suppress(psycopg.Error):  # a broken connection releases it anyway
            self.connection.rollback()
            self.connection.execute("SELECT pg_advisory_unlock(%s)", (REPLAY_LOCK,))
            self.connection.commit()

    def tune_for_bulk(self) -> None:
        self.connection.execute("SET synchronous_commit = off")
        self.connection.execute("SET maintenance_work_mem = '256MB'")
        self.connection.commit()

    def prepare(self, *, restart: bool) -> None:
        if restart:
            schemas.drop(self.connection, self.schema)
        if not schemas.exists(self.connection, self.schema):
            schemas.create(self.connection, self.schema)
        elif schemas.version(self.connection, self.schema) != len(MIGRATIONS):
            raise SchemaMismatch(
                f"{self.schema} was made by another version of the migrations;"
                " replay again with --restart"
            )
        schemas.check_columns(self.connection, self.schema)

    def build_deferred_indexes(self) -> None:
        schemas.build_deferred_indexes(self.connection, self.schema)

    def hold_projections_lock(self) -> None:
        self.connection.execute("SET LOCAL synchronous_commit = on")
        self.connection.execute(HOLD, (PROJECTIONS_LOCK,))

    def live_position(self, projection: str) -> int:
        if not schemas.exists(self.connection, SCHEMA):
            return 0
        query = sql.SQL(
            "SELECT max(position) FROM {}.projection_positions WHERE name = %s OR name LIKE %s"
        )
        row = self.connection.execute(
            query.format(sql.Identifier(SCHEMA)), (projection, row_pattern(projection))
        )
        found = row.fetchone()
        return int(found[0]) if found and found[0] is not None else 0

    def switch(self, *, retired: str) -> bool:
        return schemas.switch(self.connection, self.schema, retired=retired)

    def drop(self, schema: str) -> None:
        schemas.drop(self.connection, schema)

    def rollback(self) -> None:
        self.connection.rollback()

    def ignoring_errors(self) -> AbstractContextManager[object]:
        return contextlib.suppress(psycopg.Error)


class PostgresConversationRows:
    """One conversation's rows in `schema` (by default `analytics`) on `connection`."""

    def __init__(self, connection: Connection[Any], schema: str = SCHEMA) -> None:
        self.connection, self.schema = connection, schema
        self._store = SchemaStore(connection, schema)

    @property
    def store(self) -> SchemaStore:
        return self._store

    def transaction(self) -> AbstractContextManager[object]:
        return self.connection.transaction()

    def hold_projections_lock(self) -> None:
        self.connection.execute(HOLD, (PROJECTIONS_LOCK,))

    def delete(self, conversation_id: UUID, contact_id: UUID | None) -> None:
        name = sql.Identifier(self.schema)
        for table, column in (
            ("response_facts", "conversation_id"),
            ("attachments", "conversation_id"),
            ("tool_calls", "conversation_id"),
            ("messages", "conversation_id"),
            ("conversations", "id"),
        ):
            query = sql.SQL("DELETE FROM {}.{} WHERE {} = %s")
            self.connection.execute(
                query.format(name, sql.Identifier(table), sql.Identifier(column)),
                (conversation_id,),
            )
        if contact_id is not None:
            query = sql.SQL("DELETE FROM {}.contacts WHERE id = %s")
            self.connection.execute(query.format(name), (contact_id,))

    def message_count(self, conversation_id: UUID) -> int:
        query = sql.SQL("SELECT count(*) FROM {}.messages WHERE conversation_id = %s")
        row = self.connection.execute(
            query.format(sql.Identifier(self.schema)), (conversation_id,)
        ).fetchone()
        return int(row[0]) if row else 0
