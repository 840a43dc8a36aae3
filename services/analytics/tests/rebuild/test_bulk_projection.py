"""The bulk projection a replay uses leaves the same rows as the live, batched projection."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from threadline.analytics.adapters.outbound.read_models.rebuild import schemas
from threadline.analytics.adapters.outbound.read_models.rebuild.database import PostgresRebuild
from threadline.analytics.adapters.outbound.read_models.rebuild.store import SchemaStore
from threadline.analytics.adapters.outbound.session_event_log import EventLogReader
from threadline.analytics.application.write.rebuild import Replay
from threadline.analytics.application.write.rebuild.apply import APPLIED
from threadline.analytics.application.write.rebuild.batches import Skipped, project_into
from threadline.analytics.application.write.rebuild.ports import UnknownColumns
from threadline.analytics.application.write.rebuild.tables import ATTACHMENTS
from threadline.analytics.bootstrap import projection_consumer
from threadline.analytics.domain.write.changes import Changes
from threadline.analytics.domain.write.projection import PROJECTION
from threadline.analytics.domain.write.rates import EXAMPLE_RATES
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.consumer import Delivery
from threadline.messaging.relay import POSITION

if TYPE_CHECKING:
    from conftest import EventLog, History, ScriptedEventLog, Snapshot

BULK = "analytics_bulk"


def delivered(events: Sequence[SessionEvent]) -> list[Delivery]:
    return [
        Delivery("session.events.x", e.SerializeToString(), {POSITION: str(e.position)}, i, 1)
        for i, e in enumerate(events, start=1)
    ]


async def project_live(
    pool: AsyncConnectionPool[Any], events: Sequence[SessionEvent], *, seed: int
) -> None:
    """As the live consumer does: batches of random sizes, one transaction each."""
    rng, projector, start = random.Random(seed), projection_consumer(pool), 0
    while start < len(events):
        size = rng.randrange(1, 60)
        await projector.handle(delivered(events[start : start + size]))
        start += size


def project_bulk(database_url: str, events: Sequence[SessionEvent], size: int) -> list[Skipped]:
    """As a replay does, into a schema made like `analytics`, `size` events a batch."""
    skipped: list[Skipped] = []
    with psycopg.connect(database_url) as connection:
        with connection.transaction():
            schemas.create(connection, BULK)
        store = SchemaStore(connection, BULK)
        for start in range(0, len(events), size):
            batch = events[start : start + size]
            with connection.transaction():
                skipped += project_into(store, batch, rates=EXAMPLE_RATES)
                store.save_position(PROJECTION, batch[-1].position)
        with connection.transaction():
            schemas.build_deferred_indexes(connection, BULK)
    return skipped


def with_two_bad_events(log: EventLog) -> list[SessionEvent]:
    """A conversation whose 4th and 6th events the live projection dead-letters."""
    contact, conversation = uuid4(), uuid4()
    return [
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, "m-1"),
        log.conversation(conversation, contact),  # started twice: cannot be projected
        log.inbound(conversation, "m-2", text="still here"),
        log.inbound(conversation, "m-1"),  # a message id seen twice
        log.queued(conversation, "r-1"),
        log.inbound(conversation, "m-3", text="and again"),
    ]


@pytest.mark.parametrize(("seed", "size"), [(1, 1), (2, 7), (3, 50), (4, 10_000)])
async def test_bulk_projection_leaves_the_rows_the_live_projection_leaves(
    pool: AsyncConnectionPool[Any],
    database_url: str,
    log: EventLog,
    make_history: History,
    tables: Any,
    seed: int,
    size: int,
) -> None:
    events = make_history(log, seed=seed, conversations=8, steps=250)

    await project_live(pool, events, seed=seed)
    skipped = await asyncio.to_thread(project_bulk, database_url, events, size)

    live: Snapshot = await tables(database_url, "analytics")
    bulk: Snapshot = await tables(database_url, BULK)
    assert skipped == []
    for table, rows in live.items():
        assert bulk[table] == rows, table
    assert len(live["messages"]) > 100 and len(live["responses"]) > 10
    status = ATTACHMENTS.names.index("status")
    assert {row[status] for row in live["attachments"]} == {"stored", "failed", "pending"}
    heard = ATTACHMENTS.names.index("transcript_status")
    assert {row[heard] for row in live["attachments"]} == {"", "recorded", "missing"}


async def test_an_event_the_live_projection_dead_letters_is_skipped_alone(
    pool: AsyncConnectionPool[Any], database_url: str, log: EventLog, tables: Any
) -> None:
    events = with_two_bad_events(log)

    await project_live(pool, events, seed=5)
    skipped = await asyncio.to_thread(project_bulk, database_url, events, 100)

    assert [s.position for s in skipped] == [events[3].position, events[5].position]
    live, bulk = await tables(database_url, "analytics"), await tables(database_url, BULK)
    assert bulk == live


def test_every_kind_of_change_is_applied_by_the_bulk_projection() -> None:
    assert {f.name for f in fields(Changes)} - {"rates"} == APPLIED


async def test_a_column_the_rebuild_does_not_know_stops_it(
    pool: AsyncConnectionPool[Any], database_url: str
) -> None:
    with psycopg.connect(database_url) as connection:
        schemas.check_columns(connection, "analytics")
        connection.execute("ALTER TABLE analytics.messages ADD COLUMN sentiment text")

        with pytest.raises(UnknownColumns, match=r"messages: \['sentiment'\]"):
            schemas.check_columns(connection, "analytics")


@pytest.mark.parametrize("flush_rows", [1, 1_000_000], ids=["written each batch", "held"])
async def test_a_replay_skips_alone_the_events_the_live_projection_dead_letters(
    pool: AsyncConnectionPool[Any],
    database_url: str,
    event_log: tuple[ScriptedEventLog, str],
    reader: EventLogReader,
    log: EventLog,
    tables: Any,
    flush_rows: int,
) -> None:
    """Rows held in memory across batches fail late (a duplicate key at COPY, or in memory);
    the replay then projects that run again batch by batch and skips only what fails alone."""
    events = with_two_bad_events(log)
    await project_live(pool, events, seed=6)
    live = await tables(database_url, "analytics")
    event_log[0].append(*events)

    with psycopg.connect(database_url) as connection:
        replay = Replay(PostgresRebuild(connection), reader, batch_size=2, flush_rows=flush_rows)
        result = await asyncio.to_thread(replay.run)

    assert [s.position for s in result.skipped] == [events[3].position, events[5].position]
    assert result.events == len(events) and result.position == events[-1].position
    assert await tables(database_url, "analytics") == live


async def test_a_replay_stores_nul_and_non_finite_numbers_as_the_live_projection_does(
    pool: AsyncConnectionPool[Any],
    database_url: str,
    event_log: tuple[ScriptedEventLog, str],
    reader: EventLogReader,
    log: EventLog,
    tables: Any,
) -> None:
    """What PostgreSQL cannot hold as sent (NUL, NaN, Infinity) is made storable in one place
    ahead of the projection, for the live consumer and a replay alike: the same rows."""
    contact, conversation = uuid4(), uuid4()
    metadata = '{"nan": NaN, "nul": "a\\u0000", "huge": -1e999, "k\\u0000": [Infinity]}'
    events = [
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, "m-1\x00", text="a\x00b", metadata=metadata),
        log.changed(conversation, "e-1", kind="edit", target="m-1\x00", text="edited\x00"),
        log.inbound(conversation, "m-2", text="plain"),
    ]
    await project_live(pool, events, seed=7)
    live = await tables(database_url, "analytics")
    event_log[0].append(*events)

    with psycopg.connect(database_url) as connection:
        result = await asyncio.to_thread(
            Replay(PostgresRebuild(connection), reader, batch_size=2).run
        )

    assert result.skipped == []
    assert await tables(database_url, "analytics") == live
    messages = {row[0]: row for row in live["messages"]}
    assert set(messages) == {"m-1\ufffd", "m-2"}
    assert "edited\ufffd" in messages["m-1\ufffd"]
