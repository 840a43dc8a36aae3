"""`rebuild_conversation`: one conversation's rows made again from its stream, in place."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import psycopg
import pytest

from threadline.analytics.adapters.outbound.read_models.rebuild.database import (
    PostgresConversationRows,
)
from threadline.analytics.adapters.outbound.session_event_log import EventLogReader
from threadline.analytics.application.write.rebuild import StreamNotFound, rebuild_conversation

if TYPE_CHECKING:
    from conftest import EventLog, History, RunningAnalytics, ScriptedEventLog


def rebuild(database_url: str, reader: EventLogReader, conversation: UUID) -> Any:
    with psycopg.connect(database_url) as connection:
        return rebuild_conversation(PostgresConversationRows(connection), reader, conversation)


def damage(database_url: str, conversation: UUID) -> None:
    """What a bug might leave: a lost message, a wrong count, a wrong contact name, lost
    answers and a wrong attachment and transcript."""
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "DELETE FROM analytics.messages WHERE id = (SELECT id FROM analytics.messages"
            " WHERE conversation_id = %s ORDER BY position LIMIT 1)",
            (conversation,),
        )
        connection.execute(
            "UPDATE analytics.conversations SET message_count = 999, whatsapp_cost = 7"
            " WHERE id = %s",
            (conversation,),
        )
        connection.execute(
            "UPDATE analytics.contacts SET name = 'wrong' WHERE id ="
            " (SELECT lead_id FROM analytics.conversations WHERE id = %s)",
            (conversation,),
        )
        connection.execute(
            "DELETE FROM analytics.response_facts WHERE conversation_id = %s", (conversation,)
        )
        connection.execute(
            "UPDATE analytics.attachments SET status = 'wrong', transcript = 'misheard'"
            " WHERE conversation_id = %s",
            (conversation,),
        )


async def test_a_damaged_conversation_is_rebuilt_as_the_live_projection_made_it(
    analytics: RunningAnalytics,
    event_log: tuple[ScriptedEventLog, str],
    reader: EventLogReader,
    log: EventLog,
    make_history: History,
    tables: Any,
) -> None:
    events = make_history(log, seed=51, conversations=5, steps=200)
    event_log[0].append(*events)
    await analytics.publish(*events)
    await analytics.projected(events[-1].position)
    live = await tables(analytics.database_url, "analytics")
    conversation = UUID(next(e for e in events if e.HasField("conversation_started")).aggregate_id)
    damage(analytics.database_url, conversation)

    rebuilt = await asyncio.to_thread(rebuild, analytics.database_url, reader, conversation)

    assert rebuilt.skipped == [] and rebuilt.messages > 0
    assert await tables(analytics.database_url, "analytics") == live


async def test_events_the_live_projection_has_not_reached_are_left_to_it(
    analytics: RunningAnalytics,
    event_log: tuple[ScriptedEventLog, str],
    reader: EventLogReader,
    log: EventLog,
) -> None:
    contact, conversation = uuid4(), uuid4()
    projected = [
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, "m-1"),
    ]
    stored_only = [log.inbound(conversation, "m-2")]  # stored, not yet published
    event_log[0].append(*projected, *stored_only)
    await analytics.publish(*projected)
    await analytics.projected(projected[-1].position)

    rebuilt = await asyncio.to_thread(rebuild, analytics.database_url, reader, conversation)
    await analytics.publish(*stored_only)
    await analytics.projected(stored_only[-1].position)

    assert rebuilt.events == 3 and rebuilt.messages == 1
    with psycopg.connect(analytics.database_url) as connection:
        row = connection.execute(
            "SELECT message_count FROM analytics.conversations WHERE id = %s", (conversation,)
        ).fetchone()
    assert row == (2,)


async def test_an_unknown_conversation_cannot_be_rebuilt(
    analytics: RunningAnalytics, reader: EventLogReader
) -> None:
    with pytest.raises(StreamNotFound):
        await asyncio.to_thread(rebuild, analytics.database_url, reader, uuid4())
