"""Reading the rows a batch needs from a read-model schema, and writing its rows back with COPY.

Rows a batch's changes name are read first, with one query per table: rows it may patch,
upsert (attachments and transcripts among them) or charge, the conversations of its waiting
messages and charged messages, and the still unanswered customer messages of the conversations
it replies in. Then `apply` changes them in memory, and `flush` deletes the stored rows that
changed and copies every row written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import orjson
from psycopg import Connection, sql
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.rows import dict_row

from threadline.analytics.adapters.outbound.read_models.positions import positions_of, row_pattern
from threadline.analytics.application.write.rebuild.tables import (
    ATTACHMENTS,
    BUSINESS_NUMBERS,
    CONTACT_KEYS,
    CONTACTS,
    CONVERSATIONS,
    MESSAGES,
    RESPONSE_FACTS,
    TABLES,
    TEMPLATES,
    TOOL_CALLS,
    Row,
    Table,
)
from threadline.analytics.application.write.rebuild.working_set import WorkingSet
from threadline.analytics.domain.write.changes import Changes
from threadline.analytics.domain.write.positions import Positions

_JSONB_OID = 3802
_EMPTY_LIST, _EMPTY_DICT = b"\x01[]", b"\x01{}"
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def jsonb_binary(value: Any) -> bytes:
    """`value` as binary jsonb: version 1, then the JSON text. Most histories are empty; the
    rest are encoded by orjson, or by the standard library for what orjson refuses (integers
    beyond 64 bits). PostgreSQL normalises jsonb, so both give the rows the live writer's
    `json.dumps` gives."""
    if not value and isinstance(value, list | dict):
        return _EMPTY_LIST if isinstance(value, list) else _EMPTY_DICT
    try:
        return b"\x01" + orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return b"\x01" + _ENCODER.encode(value).encode()


class JsonbCopyDumper(Dumper):
    """Binary jsonb for COPY (chosen by type with `set_types`)."""

    format = Format.BINARY
    oid = _JSONB_OID

    # `jsonb_binary` itself (no frame of its own between psycopg and it: a replay writes
    # millions of jsonb values).
    dump = staticmethod(jsonb_binary)  # type: ignore[assignment]


class SchemaStore:
    """One read-model schema (`analytics`, or the one a rebuild fills) on one connection: the
    rebuild's `RebuildStore`."""

    def __init__(self, connection: Connection[Any], schema: str) -> None:
        self.connection, self.schema = connection, schema
        connection.adapters.register_dumper(None, JsonbCopyDumper)

    def transaction(self) -> AbstractContextManager[object]:
        return self.connection.transaction()

    def table(self, table: Table) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(table.name))

    # Reading --------------------------------------------------------------------------

    def load(self, changes: Changes, rows: WorkingSet) -> None:
        """Read into `rows` the stored rows that applying `changes` reads."""
        numbers = {*changes.numbers, *changes.number_patches}
        numbers.update(template.number_id for template in changes.templates.values())
        self._load(BUSINESS_NUMBERS, rows, numbers)
        self._load(TEMPLATES, rows, changes.templates)
        self._load(CONTACTS, rows, {*changes.contacts, *changes.contact_patches})
        self._load(CONTACT_KEYS, rows, changes.contact_keys)
        # Rows the batch inserts are not read: were one stored already, COPY would refuse
        # its key, and the run would be projected again batch by batch, as the live writer's
        # INSERT would have failed.
        self._load(MESSAGES, rows, {*changes.patches, *changes.charges} - changes.messages.keys())
        conversations = {*changes.conversation_patches} - changes.conversations.keys()
        conversations.update(fact.conversation_id for fact in changes.waiting.values())
        for charge in changes.charges:
            message = rows.get(MESSAGES, charge)
            if message is not None:
                conversations.add(message["conversation_id"])
        self._load(CONVERSATIONS, rows, conversations)
        self._load_waiting(rows, {reply.conversation_id for reply in changes.replies})
        self._load(ATTACHMENTS, rows, {*changes.attachments, *changes.transcripts})
        self._load(TOOL_CALLS, rows, changes.tool_calls)

    def _load(self, table: Table, rows: WorkingSet, keys: Iterable[Any]) -> None:
        wanted = rows.missing(table, keys)
        if wanted:
            rows.keep_stored(table, self._select(table, wanted))

    def _select(self, table: Table, keys: Sequence[Any]) -> list[Row]:
        columns = sql.SQL(", ").join(map(sql.Identifier, table.names))
        if len(table.key) == 1:
            query = sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%s)").format(
                columns, self.table(table), sql.Identifier(table.key[0])
            )
            params: list[Any] = [list(keys)]
        else:
            query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
                columns, self.table(table), _keys_in(table)
            )
            params = [list(part) for part in zip(*keys, strict=True)]
        with self.connection.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(query, params, binary=True).fetchall()

    def _load_waiting(self, rows: WorkingSet, conversation_ids: set[Any]) -> None:
        wanted = [c for c in conversation_ids if c not in rows.waiting_loaded]
        if not wanted:
            return
        columns = sql.SQL(", ").join(map(sql.Identifier, RESPONSE_FACTS.names))
        query = sql.SQL(
            "SELECT {} FROM {} WHERE conversation_id = ANY(%s) AND answered_at IS NULL"
        ).format(columns, self.table(RESPONSE_FACTS))
        with self.connection.cursor(row_factory=dict_row) as cursor:
            found = cursor.execute(query, [wanted], binary=True).fetchall()
        by_conversation: dict[Any, list[Row]] = {c: [] for c in wanted}
        for fact in found:
            by_conversation[fact["conversation_id"]].append(fact)
        for conversation_id, facts in by_conversation.items():
            rows.keep_waiting(conversation_id, facts)

    # The projection's position ------------------------------------------------------

    def positions(self, projection: str) -> Positions:
        query = sql.SQL(
            "SELECT name, position FROM {}.projection_positions WHERE name = %s OR name LIKE %s"
        )
        rows = self.connection.execute(
            query.format(sql.Identifier(self.schema)), (projection, row_pattern(projection))
        ).fetchall()
        return positions_of(projection, [(str(row[0]), int(row[1])) for row in rows])

    def position(self, projection: str) -> int:
        return self.positions(projection).complete

    def save_position(self, projection: str, position: int) -> None:
        # Partition 0's row, and any other partition's: all hold every event up to it.
        table = sql.Identifier(self.schema)
        self.connection.execute(
            sql.SQL(
                "INSERT INTO {}.projection_positions (name, position) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET position = excluded.position"
            ).format(table),
            (projection, position),
        )
        self.connection.execute(
            sql.SQL("UPDATE {}.projection_positions SET position = %s WHERE name LIKE %s").format(
                table
            ),
            (position, row_pattern(projection)),
        )

    # Writing --------------------------------------------------------------------------

    def flush(self, rows: WorkingSet) -> int:
        """Write what the batch changed; the number of rows written."""
        written = 0
        for table in TABLES:
            self._delete(table, rows.rewritten_keys(table))
            batch = rows.written(table)
            if batch:
                self._copy(table, batch)
                written += len(batch)
        return written

    def _delete(self, table: Table, keys: Sequence[Any]) -> None:
        if not keys:
            return
        if len(table.key) == 1:
            query = sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(
                self.table(table), sql.Identifier(table.key[0])
            )
            self.connection.execute(query, [list(keys)])
            return
        query = sql.SQL("DELETE FROM {} WHERE {}").format(self.table(table), _keys_in(table))
        self.connection.execute(query, [list(part) for part in zip(*keys, strict=True)])

    def _copy(self, table: Table, batch: Sequence[Row]) -> None:
        columns = sql.SQL(", ").join(map(sql.Identifier, table.names))
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            self.table(table), columns
        )
        with self.connection.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(table.types)
            values, write = table.values(), copy.write_row
            for row in batch:
                write(values(row))


def _keys_in(table: Table) -> sql.Composed:
    """`(a, b) IN (SELECT * FROM unnest(%s::text[], %s::uuid[]))` for a composite key."""
    types = dict(table.columns)
    arrays = sql.SQL(", ").join(
        sql.SQL("%s::{}[]").format(sql.SQL(types[column])) for column in table.key
    )
    columns = sql.SQL(", ").join(map(sql.Identifier, table.key))
    return sql.SQL("({}) IN (SELECT * FROM unnest({}))").format(columns, arrays)
