"""The rows one rebuild batch touches, held in memory between loading and writing them.

Rows already stored (read by `store.load`) are written back only when the batch changed them
(deleted, then copied again); new rows are copied. Customer messages still waiting for an
answer are also kept per conversation, in position order, for the replies of the batch.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from threadline.analytics.application.write.rebuild.tables import RESPONSE_FACTS, TABLES, Row, Table


class Conflict(ValueError):
    """A row inserted twice: the live writer's INSERT would fail on its primary key."""


class WorkingSet:
    def __init__(self) -> None:
        self.rows: dict[str, dict[Any, Row]] = {table.name: {} for table in TABLES}
        self.stored: dict[str, set[Any]] = {table.name: set() for table in TABLES}
        self.changed: dict[str, set[Any]] = {table.name: set() for table in TABLES}
        self.waiting: dict[UUID, list[Row]] = {}  # unanswered facts, by conversation
        self.waiting_loaded: set[UUID] = set()  # conversations whose stored facts are in `waiting`

    def get(self, table: Table, key: Any) -> Row | None:
        return self.rows[table.name].get(key)

    def has(self, table: Table, key: Any) -> bool:
        return key in self.rows[table.name]

    def missing(self, table: Table, keys: Any) -> list[Any]:
        rows = self.rows[table.name]
        return [key for key in keys if key not in rows]

    def keep_stored(self, table: Table, rows: list[Row]) -> None:
        """Rows read from the database, unchanged so far."""
        mine, stored = self.rows[table.name], self.stored[table.name]
        for row in rows:
            key = table.key_of(row)
            mine[key] = row
            stored.add(key)

    def insert(self, table: Table, row: Row) -> None:
        """A new row; one already present (stored or new) is a conflict, as in SQL."""
        key = table.key_of(row)
        mine = self.rows[table.name]
        if key in mine:
            raise Conflict(f"{table.name} {key!r} inserted twice")
        mine[key] = row
        self.changed[table.name].add(key)

    def insert_missing(self, table: Table, row: Row) -> Row:
        """`INSERT … ON CONFLICT DO NOTHING`: the row now under the key."""
        key = table.key_of(row)
        found = self.rows[table.name].get(key)
        if found is not None:
            return found
        self.insert(table, row)
        return row

    def touch(self, table: Table, key: Any) -> None:
        self.changed[table.name].add(key)

    def keep_waiting(self, conversation_id: UUID, facts: list[Row]) -> None:
        """Stored unanswered facts of a conversation, merged in position order with the ones
        added in memory since the rows were last written."""
        self.keep_stored(RESPONSE_FACTS, facts)
        held = self.waiting.get(conversation_id, [])
        self.waiting[conversation_id] = sorted([*facts, *held], key=_position)
        self.waiting_loaded.add(conversation_id)

    def written(self, table: Table) -> list[Row]:
        rows = self.rows[table.name]
        return [rows[key] for key in self.changed[table.name]]

    def rewritten_keys(self, table: Table) -> list[Any]:
        """Keys of stored rows that changed: deleted before their new state is copied."""
        return list(self.stored[table.name] & self.changed[table.name])

    @property
    def size(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


def _position(fact: Row) -> int:
    return int(fact["position"])
