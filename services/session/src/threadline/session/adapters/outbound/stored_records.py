"""Stored events with their positions, read as plain tuples.

On PostgreSQL one query of our own, binary and without dict rows (`select_notifications`
builds a dict and a `Notification` per row: most of its cost); the in-memory store of unit
tests answers through the recorder's own methods.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, InterfaceError, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import sql
from psycopg.rows import tuple_row

from threadline.rules.partitions import conversation_slot, partition_of

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
            # The partition of a record is its aggregate's: the slot its id carries (its last
            # 12 bits, `threadline.rules.partitions`) modulo the number of partitions.
            # One statement, one snapshot: the log's head, and the partition's records up to
            # it (a row with the head alone when there are none).
            self._after_in = sql.SQL(
                "WITH head AS (SELECT max(notification_id) AS at FROM {table})"
                " SELECT head.at, r.notification_id, r.originator_id::text,"
                " r.originator_version, r.topic, r.state FROM head LEFT JOIN LATERAL ("
                "SELECT * FROM {table} WHERE notification_id > %s AND notification_id <= head.at"
                " AND ((get_byte(uuid_send(originator_id), 14) & 15) * 256"
                " + get_byte(uuid_send(originator_id), 15)) %% %s = %s"
                " ORDER BY notification_id LIMIT %s) AS r ON true"
            ).format(table=table)
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

    def after_in(
        self, position: int, limit: int, partition: int, partitions: int
    ) -> tuple[list[Record], int]:
        """Up to `limit` records of one partition after `position`, in log order, and the
        position up to which the log was read: the last record's when `limit` were found,
        else the log's head when read (every record up to it is committed by then: the
        library stores under a table lock, so positions commit in order)."""
        if self._postgres is None:
            last = self._recorder.max_notification_id() or 0
            wanted = [
                r for r in self.after(position, last) if _partition(r[1], partitions) == partition
            ]
            if len(wanted) > limit:
                return wanted[:limit], wanted[limit - 1][0]
            return wanted, max(last, position)
        rows = self._select_partition((position, partitions, partition, limit))
        head = int(rows[0][0] or 0) if rows else 0
        records: list[Record] = [row[1:] for row in rows if row[1] is not None]
        if len(records) == limit:
            return records, records[-1][0]
        return records, max(head, position)

    def of_stream(self, originator_id: UUID) -> list[Record]:
        """Every record of one aggregate, by version."""
        if self._postgres is None:
            last = self._recorder.max_notification_id() or 0
            wanted = str(originator_id)
            return [r for r in self.after(0, last) if r[1] == wanted]
        records: list[Record] = self._select(self._stream, (originator_id,))
        return records

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _select_partition(self, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        assert self._postgres is not None
        with (
            self._postgres.datastore.get_connection() as connection,
            connection.cursor(row_factory=tuple_row, binary=True) as cursor,
        ):
            cursor.execute(self._after_in, params, prepare=True)
            return cursor.fetchall()

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _select(self, query: sql.Composed, params: tuple[object, ...]) -> list[Record]:
        assert self._postgres is not None
        with (
            self._postgres.datastore.get_connection() as connection,
            connection.cursor(row_factory=tuple_row, binary=True) as cursor,
        ):
            cursor.execute(query, params, prepare=True)
            return cursor.fetchall()


def _partition(originator_id: str, partitions: int) -> int:
    return partition_of(conversation_slot(originator_id), partitions)
