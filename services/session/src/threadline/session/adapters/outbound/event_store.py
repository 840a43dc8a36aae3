"""The PostgreSQL event store as the session uses it: a faster insert, the histories of many
aggregates read with one query (the application's `StoredHistories` port), and a readiness
check."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from psycopg import sql
from psycopg.rows import DictRow, tuple_row

from threadline.messaging.failures import describe
from threadline.rules.partitions import conversation_slot
from threadline.servicekit.ops_http import ReadinessCheck

# An advisory lock key of the session's own (any 64-bit number no other code uses).
CREATE_TABLES_LOCK = 0x7468726561646C6E  # "threadln"


def _one_at_a_time(datastore: PostgresDatastore, create: Callable[[], None]) -> None:
    """`create` (the library's `CREATE TYPE`, `CREATE TABLE IF NOT EXISTS`, `CREATE OR REPLACE
    FUNCTION`) while no other process of the session runs one: instances starting together on a
    fresh database would otherwise race in them (a unique violation on `pg_type`, "tuple
    concurrently updated"), and one would fail to start. The lock is held on a connection of its
    own while the library uses others."""
    with datastore.get_connection() as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (CREATE_TABLES_LOCK,))
        try:
            create()
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (CREATE_TABLES_LOCK,))


class SnapshotRecorder(PostgresAggregateRecorder):
    """The library's recorder of snapshots, its table made one process at a time."""

    def create_table(self) -> None:
        _one_at_a_time(self.datastore, super().create_table)


class ArrayInsertRecorder(PostgresApplicationRecorder):
    """The library's locked `INSERT`, with the rows sent as four binary arrays.

    The stock recorder sends one array of composites, which psycopg writes as escaped text (a
    regex per row); measured in `make bench` at about half this one's insert rate. The table
    lock (notification ids in commit order, which the relay relies on) and NOTIFY are kept.
    The notification ids are not returned: nothing in the session reads them from a save (the
    relay reads the log), and each cost a row object here and a `Recording` in the library
    (8 % of the CPU an event appended, measured in instructions).
    """

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        # The slots of the aggregates written since last taken (`take_written_slots`): which
        # partitions' relays have something new.
        self._written_slots: set[int] = set()
        self._slots_lock = threading.Lock()
        self.insert_events_statement = sql.SQL(
            "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[])"
        ).format(sql.Identifier(datastore.schema), sql.Identifier(events_table_name))
        # One probe of the primary key an aggregate, the ids and versions sent binary, nothing
        # returned but what changed (about a fifth of the CPU an event appended, when every
        # version read came back to be compared here).
        self.changed_since_statement = sql.SQL(
            "SELECT r.id FROM unnest(%b::uuid[], %b::bigint[]) AS r (id, version) "
            "WHERE EXISTS (SELECT FROM {}.{} e "
            "WHERE e.originator_id = r.id AND e.originator_version > r.version)"
        ).format(sql.Identifier(datastore.schema), sql.Identifier(events_table_name))
        self.select_histories_statement = sql.SQL(
            "SELECT originator_id, originator_version, topic, state FROM {}.{} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(sql.Identifier(datastore.schema), sql.Identifier(events_table_name))

    def create_table(self) -> None:
        """The library's types, tables and function, made by one process at a time (see
        `_one_at_a_time`)."""
        _one_at_a_time(self.datastore, super().create_table)

    def _insert_stored_events(
        self, curs: psycopg.Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        columns = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        )
        curs.execute(self.insert_events_statement, columns)
        slots = {conversation_slot(e.originator_id) for e in stored_events}
        with self._slots_lock:
            self._written_slots |= slots

    def take_written_slots(self) -> set[int]:
        """The slots (`threadline.rules.partitions`) of the aggregates written since the last
        call (a transaction rolled back after its insert included: a wake too many is harmless)."""
        with self._slots_lock:
            slots, self._written_slots = self._written_slots, set()
        return slots

    def _fetch_ids_after_insert_events(
        self, curs: psycopg.Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any
    ) -> Sequence[int] | None:
        """None: `insert_events` then returns no ids, and `save` no recordings."""
        return None

    def select_histories(self, ids: Sequence[UUID]) -> list[StoredEvent]:
        """The stored events of the aggregates among `ids`, by aggregate and version."""
        with self.datastore.get_connection() as connection:
            rows = connection.execute(self.select_histories_statement, (list(ids),)).fetchall()
        return [
            StoredEvent(row["originator_id"], row["originator_version"], row["topic"], row["state"])
            for row in rows
        ]

    def changed_since(self, read: Mapping[UUID, int]) -> list[UUID]:
        """The aggregates among `read` (id → the version read) with a later stored event (one
        query, a probe of the primary key each)."""
        columns = (list(read), list(read.values()))
        with (
            self.datastore.get_connection() as connection,
            connection.cursor(row_factory=tuple_row) as cursor,
        ):
            return [row[0] for row in cursor.execute(self.changed_since_statement, columns)]


class SessionStoreFactory(PostgresFactory):
    """The library's PostgreSQL persistence with the session's recorders: its events' and its
    snapshots', each making its table one process at a time."""

    application_recorder_class = ArrayInsertRecorder
    aggregate_recorder_class = SnapshotRecorder


FACTORY_TOPIC = f"{__name__}:SessionStoreFactory"
READINESS_TIMEOUT = 5.0  # seconds a readiness probe waits for the store


def store_reachable(recorder: ApplicationRecorder) -> ReadinessCheck:
    """Ready while the event store answers a cheap query (on a worker thread)."""

    async def check() -> str | None:
        try:
            await asyncio.wait_for(
                asyncio.to_thread(recorder.max_notification_id), READINESS_TIMEOUT
            )
        except TimeoutError:
            return f"the event store did not answer within {READINESS_TIMEOUT:.0f}s"
        except Exception as error:
            return f"the event store is unreachable: {describe(error)}"
        return None

    return check
