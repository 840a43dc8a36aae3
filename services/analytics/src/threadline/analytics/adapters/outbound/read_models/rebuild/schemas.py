"""The schema a replay fills, made like `analytics`, and the atomic switch between them.

The rebuild schema is created by the same migrations as `analytics` (their statements with the
schema name replaced), with the same privileges (so a dashboard's read-only role keeps reading
after the switch). Its secondary indexes are dropped while it is empty and built again once
it is full (their definitions wait in `rebuild_deferred_indexes`). The switch renames
`analytics` away and the rebuild schema into its place in one transaction: a view keeps
pointing at its own schema's table, every statement parsed after the commit (prepared ones
too: PostgreSQL re-plans them) resolves `analytics.` to the new tables.
"""

from __future__ import annotations

import logging
import re
from typing import Any, LiteralString

from psycopg import Connection, sql

from threadline.analytics.adapters.outbound.read_models.schema import MIGRATIONS, SCHEMA
from threadline.analytics.application.write.rebuild.ports import SchemaMismatch, UnknownColumns
from threadline.analytics.application.write.rebuild.tables import TABLES

log = logging.getLogger(__name__)

REBUILD_SCHEMA = "analytics_rebuild"
DEFERRED = "rebuild_deferred_indexes"
# Indexes a rebuild reads through while it loads: primary keys and unique constraints (kept
# by being constraints) and the unanswered customer messages of a conversation.
KEPT_INDEXES = frozenset({"response_facts_unanswered"})
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_QUALIFIED = re.compile(rf"\b{SCHEMA}\.")
_OBJECT_KINDS = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES"}


def in_schema(statement: LiteralString, schema: str) -> LiteralString:
    """A migration statement made for `schema` instead of `analytics`."""
    if not _IDENTIFIER.match(schema):
        raise ValueError(f"not a plain schema name: {schema!r}")
    # The name is checked above, so the result is as safe as the literal it came from.
    return _QUALIFIED.sub(f"{schema}.", statement)


def exists(connection: Connection[Any], schema: str) -> bool:
    query = "SELECT 1 FROM pg_namespace WHERE nspname = %s"
    return connection.execute(query, (schema,)).fetchone() is not None


def version(connection: Connection[Any], schema: str) -> int:
    """The migration version of `schema` (0 when it has none)."""
    if not exists(connection, schema):
        return 0
    query = sql.SQL("SELECT coalesce(max(version), 0) FROM {}.schema_migrations")
    row = connection.execute(query.format(sql.Identifier(schema))).fetchone()
    return int(row[0]) if row else 0


def create(connection: Connection[Any], schema: str) -> None:
    """Create `schema` as the migrations make `analytics`, with its privileges and without
    its secondary indexes (call inside a transaction)."""
    name = sql.Identifier(schema)
    connection.execute(sql.SQL("CREATE SCHEMA {}").format(name))
    copy_privileges(connection, SCHEMA, schema)
    connection.execute(
        sql.SQL(
            "CREATE TABLE {}.schema_migrations (version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        ).format(name)
    )
    for number, statements in enumerate(MIGRATIONS, start=1):
        for statement in statements:
            connection.execute(in_schema(statement, schema))
        insert = sql.SQL("INSERT INTO {}.schema_migrations (version) VALUES (%s)")
        connection.execute(insert.format(name), (number,))
    copy_table_privileges(connection, SCHEMA, schema)
    defer_indexes(connection, schema)
    log.info("created %s at version %d", schema, len(MIGRATIONS))


def drop(connection: Connection[Any], schema: str) -> None:
    connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def defer_indexes(connection: Connection[Any], schema: str) -> None:
    """Drop the secondary indexes, keeping their definitions to build them once full."""
    name = sql.Identifier(schema)
    connection.execute(
        sql.SQL("CREATE TABLE {}.{} (name text PRIMARY KEY, definition text NOT NULL)").format(
            name, sql.Identifier(DEFERRED)
        )
    )
    indexes = connection.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x"
        " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace"
        " WHERE n.nspname = %s AND NOT x.indisunique AND NOT x.indisprimary"
        " AND i.relname <> ALL(%s)",
        (schema, sorted(KEPT_INDEXES)),
    ).fetchall()
    for index, definition in indexes:
        connection.execute(
            sql.SQL("INSERT INTO {}.{} (name, definition) VALUES (%s, %s)").format(
                name, sql.Identifier(DEFERRED)
            ),
            (index, definition),
        )
        connection.execute(sql.SQL("DROP INDEX {}.{}").format(name, sql.Identifier(index)))


def build_deferred_indexes(connection: Connection[Any], schema: str) -> int:
    """Build the indexes `defer_indexes` dropped; how many (call inside a transaction)."""
    name, table = sql.Identifier(schema), sql.Identifier(DEFERRED)
    if not _has_table(connection, schema, DEFERRED):
        return 0
    rows = connection.execute(sql.SQL("SELECT definition FROM {}.{}").format(name, table))
    definitions = [str(definition) for (definition,) in rows.fetchall()]
    for definition in definitions:
        # The definitions are PostgreSQL's own (pg_get_indexdef), read back from this schema.
        connection.execute(definition)
    connection.execute(sql.SQL("DROP TABLE {}.{}").format(name, table))
    return len(definitions)


def switch(connection: Connection[Any], schema: str, *, retired: str) -> bool:
    """Put `schema` in the place of `analytics`, renaming that one to `retired` (call holding
    the projections lock, in the transaction that last wrote `schema`). Whether there was an
    `analytics` schema to retire."""
    live, rebuilt = version(connection, SCHEMA), version(connection, schema)
    had_live = exists(connection, SCHEMA)
    if had_live and live != rebuilt:
        raise SchemaMismatch(
            f"{SCHEMA} is at migration {live} and {schema} at {rebuilt}: the service and this"
            f" replay run different versions; replay again with --restart"
        )
    if had_live:
        connection.execute(
            sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                sql.Identifier(SCHEMA), sql.Identifier(retired)
            )
        )
    connection.execute(
        sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
            sql.Identifier(schema), sql.Identifier(SCHEMA)
        )
    )
    return had_live


def copy_privileges(connection: Connection[Any], source: str, target: str) -> None:
    """The schema's grants and its default privileges for tables created in it later."""
    for privilege, grantee in connection.execute(
        "SELECT a.privilege_type, coalesce(quote_ident(r.rolname), 'PUBLIC')"
        " FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a"
        " LEFT JOIN pg_roles r ON r.oid = a.grantee"
        " WHERE n.nspname = %s AND a.grantee <> n.nspowner",
        (source,),
    ).fetchall():
        connection.execute(_grant(privilege, "SCHEMA", sql.Identifier(target), grantee))
    for owner, kind, privilege, grantee in connection.execute(
        "SELECT quote_ident(o.rolname), d.defaclobjtype, a.privilege_type,"
        " coalesce(quote_ident(r.rolname), 'PUBLIC')"
        " FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace"
        " JOIN pg_roles o ON o.oid = d.defaclrole"
        " CROSS JOIN LATERAL aclexplode(d.defaclacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee"
        " WHERE n.nspname = %s",
        (source,),
    ).fetchall():
        if kind in _OBJECT_KINDS:
            connection.execute(
                sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} {}").format(
                    sql.SQL(owner),  # quoted by quote_ident
                    sql.Identifier(target),
                    _grant(privilege, _OBJECT_KINDS[kind], None, grantee),
                )
            )


def copy_table_privileges(connection: Connection[Any], source: str, target: str) -> None:
    """Grants on each table and view of `source`, onto the one of the same name in `target`."""
    for relation, privilege, grantee in connection.execute(
        "SELECT c.relname, a.privilege_type, coalesce(quote_ident(r.rolname), 'PUBLIC')"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm', 'p')"
        " AND a.grantee <> c.relowner"
        " AND EXISTS (SELECT 1 FROM pg_class t JOIN pg_namespace m ON m.oid = t.relnamespace"
        "             WHERE m.nspname = %s AND t.relname = c.relname)",
        (source, target),
    ).fetchall():
        table = sql.SQL("{}.{}").format(sql.Identifier(target), sql.Identifier(relation))
        connection.execute(_grant(privilege, "TABLE", table, grantee))


def _grant(privilege: str, kind: str, target: sql.Composable | None, grantee: str) -> sql.Composed:
    # Privilege names come from aclexplode and grantees from quote_ident: both are safe SQL.
    on = sql.SQL("{} {}").format(sql.SQL(kind), target) if target is not None else sql.SQL(kind)
    return sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(privilege), on, sql.SQL(grantee))


def _has_table(connection: Connection[Any], schema: str, table: str) -> bool:
    query = "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s"
    return connection.execute(query, (schema, table)).fetchone() is not None


# Tables the projection does not write (bookkeeping), and so a rebuild does not either.
BOOKKEEPING = frozenset({"projection_positions", "schema_migrations", "rebuild_deferred_indexes"})


def check_columns(connection: Connection[Any], schema: str) -> None:
    """Refuse tables whose stored columns differ from the ones `tables` lists."""
    found: dict[str, set[str]] = {}
    rows = connection.execute(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = %s AND t.table_type = 'BASE TABLE'"
        " AND c.is_generated = 'NEVER'",
        (schema,),
    ).fetchall()
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    problems = [
        f"{schema}.{table.name}: {sorted(set(table.names) ^ found.get(table.name, set()))}"
        for table in TABLES
        if set(table.names) != found.get(table.name, set())
    ]
    unknown = sorted(set(found) - {t.name for t in TABLES} - BOOKKEEPING)
    problems += [f"{schema}.{name}: a table the rebuild does not fill" for name in unknown]
    if problems:
        raise UnknownColumns(
            "the rebuild does not match the read-model schema (teach "
            "threadline.analytics.application.write.rebuild about these): " + "; ".join(problems)
        )
