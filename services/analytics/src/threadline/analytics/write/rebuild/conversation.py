"""Rebuilding one conversation's rows in place, from its stream in the event log.

Its conversation row, messages and response facts, and its contact's row, are deleted and
projected again from the conversation's and the contact's streams (`ReadStream`, with their
positions in the log), in one transaction holding the projections lock, so no live batch
interleaves. Only events the live projection has already reached are replayed; it applies the
later ones itself. The projection's position does not move.

A reaction or edit the customer sent from a later conversation to a message of this one is
an event of that later conversation: a full replay restores it, this one does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from psycopg import Connection, sql

from threadline.analytics.read_models.schema import SCHEMA
from threadline.analytics.write.lock import HOLD, PROJECTIONS_LOCK
from threadline.analytics.write.projection import PROJECTION
from threadline.analytics.write.rates import EXAMPLE_RATES, Rates
from threadline.analytics.write.rebuild.batches import Skipped, project_into
from threadline.analytics.write.rebuild.event_log import EventLogReader, StreamNotFound
from threadline.analytics.write.rebuild.store import SchemaStore

CONVERSATION = "Conversation"


@dataclass(slots=True)
class ConversationRebuilt:
    conversation_id: UUID
    contact_id: UUID | None
    events: int = 0
    messages: int = 0
    skipped: list[Skipped] = field(default_factory=list)


def rebuild_conversation(
    connection: Connection[Any],
    event_log: EventLogReader,
    conversation_id: UUID,
    *,
    rates: Rates = EXAMPLE_RATES,
    schema: str = SCHEMA,
) -> ConversationRebuilt:
    stream = event_log.read_stream(str(conversation_id))
    if not stream or stream[0].aggregate_type != CONVERSATION:
        raise StreamNotFound(f"{conversation_id} is not a conversation in the event log")
    contact = stream[0].conversation_started.contact_id
    contact_id = UUID(contact) if contact else None
    events = list(stream)
    if contact_id is not None:
        events += event_log.read_stream(contact)
    store = SchemaStore(connection, schema)
    rebuilt = ConversationRebuilt(conversation_id, contact_id)
    with connection.transaction():
        connection.execute(HOLD, (PROJECTIONS_LOCK,))
        reached = store.position(PROJECTION)
        replayed = sorted((e for e in events if e.position <= reached), key=lambda e: e.position)
        _delete(connection, schema, conversation_id, contact_id)
        rebuilt.skipped = project_into(store, replayed, rates=rates)
        rebuilt.events = len(replayed)
        rebuilt.messages = _message_count(connection, schema, conversation_id)
    return rebuilt


def _delete(
    connection: Connection[Any], schema: str, conversation_id: UUID, contact_id: UUID | None
) -> None:
    name = sql.Identifier(schema)
    for table, column in (
        ("response_facts", "conversation_id"),
        ("messages", "conversation_id"),
        ("conversations", "id"),
    ):
        query = sql.SQL("DELETE FROM {}.{} WHERE {} = %s")
        connection.execute(
            query.format(name, sql.Identifier(table), sql.Identifier(column)), (conversation_id,)
        )
    if contact_id is not None:
        query = sql.SQL("DELETE FROM {}.contacts WHERE id = %s")
        connection.execute(query.format(name), (contact_id,))


def _message_count(connection: Connection[Any], schema: str, conversation_id: UUID) -> int:
    query = sql.SQL("SELECT count(*) FROM {}.messages WHERE conversation_id = %s")
    row = connection.execute(query.format(sql.Identifier(schema)), (conversation_id,)).fetchone()
    return int(row[0]) if row else 0
