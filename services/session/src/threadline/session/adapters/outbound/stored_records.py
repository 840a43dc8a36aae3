"""Stored events with their positions, read as plain tuples.

On PostgreSQL one query of our own, binary and without dict rows (`select_notifications`
builds a dict and a `Notification` per row: most of its cost); the in-memory store of unit
tests answers through the recorder's own methods.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, InterfaceError, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import sql
from psycopg.rows import tuple_row

# (position, originator id as text, originator version, topic, state): a record as read.
Record = tuple[int, str, int, str, bytes]
COLUMNS = "notification_id, originator_id::text, originator_version, topic, state"


class StoredRecords:
    def __init__(self, recorder: ApplicationRecorder) -> None:
        self._recorder = recorder
        self._postgres = recorder if isinstance(recorder, PostgresApplicationRecorder) else None
        if self._postgres is not None:
            table = sql.SQL("{}.{}").format(
                sql.Identifier(self._postgres.datastore.schema),
                sql.Identifier(self._postgres.events_table_name),
            )
            self._after = sql.SQL(
                "SELECT " + COLUMNS + " FROM {} WHERE notification_id > %s "
                "ORDER BY notification_id LIMIT %s"
            ).format(table)
            self._stream = sql.SQL(
                "SELECT " + COLUMNS + " FROM {} WHERE originator_id = %s "
                "ORDER BY originator_version"
            ).format(table)

    def after(self, position: int, limit: int) -> list[Record]:
        """Up to `limit` records after `position`, in log order."""
        if self._postgres is None:
            notes = self._recorder.select_notifications(position, limit, inclusive_of_start=False)
            return [
                (n.id, str(n.originator_id), n.originator_version, n.topic, n.state) for n in notes
            ]
        records: list[Record] = self._select(self._after, (position, limit))
        return records

    def of_stream(self, originator_id: UUID) -> list[Record]:
        """Every record of one aggregate, by version."""
        if self._postgres is None:
            last = self._recorder.max_notification_id() or 0
            wanted = str(originator_id)
            return [r for r in self.after(0, last) if r[1] == wanted]
        records: list[Record] = self._select(self._stream, (originator_id,))
        return records

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _select(self, query: sql.Composed, params: tuple[object, ...]) -> list[Record]:
        assert self._postgres is not None
        with (
            self._postgres.datastore.get_connection() as connection,
            connection.cursor(row_factory=tuple_row, binary=True) as cursor,
        ):
            cursor.execute(query, params, prepare=True)
            return cursor.fetchall()
