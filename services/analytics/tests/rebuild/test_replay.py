"""`Replay` against the running service: rebuild beside it, switch, and carry on from NATS."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from threadline.analytics.adapters.outbound.read_models.rebuild.database import (
    REPLAY_LOCK,
    PostgresRebuild,
)
from threadline.analytics.adapters.outbound.session_event_log import EventLogReader
from threadline.analytics.application.write.rebuild import Progress, Replay
from threadline.analytics.application.write.rebuild.replay import DEFAULT_FLUSH_ROWS, ReplayRunning
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.events.v1.session_pb2 import SessionEvent

if TYPE_CHECKING:
    from conftest import EventLog, History, RunningAnalytics, ScriptedEventLog


class Stop(Exception):
    """Stands for the operator's Ctrl-C."""


async def publish(
    analytics: RunningAnalytics, log: ScriptedEventLog, events: Sequence[SessionEvent]
) -> None:
    """What the session does: store (the log), then publish (the relay)."""
    log.append(*events)
    await analytics.publish(*events)


async def keep_querying(analytics: RunningAnalytics, stop: asyncio.Event) -> tuple[int, list[str]]:
    """List and open conversations until `stop`; answers received, and errors met."""
    answered, errors = 0, []
    while not stop.is_set():
        try:
            listed = await analytics.queries.ListConversations(
                pb.ListConversationsRequest(size=5), metadata=analytics.reader
            )
            for conversation in listed.conversations[:2]:
                await analytics.queries.GetConversation(
                    pb.GetConversationRequest(conversation_id=conversation.id),
                    metadata=analytics.reader,
                )
            answered += 1
        except Exception as error:
            errors.append(repr(error))
        await asyncio.sleep(0.005)
    return answered, errors


def replay(database_url: str, reader: EventLogReader, **options: Any) -> Any:
    progress = options.pop("progress", None)
    with psycopg.connect(database_url) as connection:
        runner = Replay(
            PostgresRebuild(connection),
            reader,
            batch_size=options.pop("batch_size", 40),
            flush_rows=options.pop("flush_rows", DEFAULT_FLUSH_ROWS),
        )
        return runner.run(progress, **options) if progress else runner.run(**options)


async def test_a_replay_switches_to_identical_read_models_while_queries_and_events_go_on(
    analytics: RunningAnalytics,
    event_log: tuple[ScriptedEventLog, str],
    reader: EventLogReader,
    log: EventLog,
    make_history: History,
    tables: Any,
    reference: Any,
    reference_url: str,
) -> None:
    scripted = event_log[0]
    before = make_history(log, seed=11, conversations=10, steps=400)
    await publish(analytics, scripted, before)
    await analytics.projected(before[-1].position)
    during = make_history(log, seed=12, conversations=4, steps=200)
    after = make_history(log, seed=13, conversations=3, steps=60)
    stop = asyncio.Event()
    querying = asyncio.create_task(keep_querying(analytics, stop))

    async def publish_during() -> None:
        for start in range(0, len(during), 20):
            await publish(analytics, scripted, during[start : start + 20])
            await asyncio.sleep(0.01)

    publishing = asyncio.create_task(publish_during())
    result = await asyncio.to_thread(replay, analytics.database_url, reader)
    await publishing
    await publish(analytics, scripted, after)
    await analytics.projected(after[-1].position)
    stop.set()
    answered, errors = await querying

    await reference(reference_url, [*before, *during, *after])
    assert errors == [] and answered > 0
    assert result.events >= len(before) and result.retired is None
    assert await tables(analytics.database_url, "analytics") == await tables(
        reference_url, "analytics"
    )


async def test_an_interrupted_replay_resumes_where_it_stopped(
    analytics: RunningAnalytics,
    event_log: tuple[ScriptedEventLog, str],
    reader: EventLogReader,
    log: EventLog,
    make_history: History,
    tables: Any,
) -> None:
    events = make_history(log, seed=21, conversations=6, steps=300)
    await publish(analytics, event_log[0], events)
    await analytics.projected(events[-1].position)
    live = await tables(analytics.database_url, "analytics")
    batches = 0

    def interrupt_after_three(progress: Progress) -> None:
        nonlocal batches
        batches += progress.phase == "rebuilding" and progress.events > 0
        if batches == 3:
            raise Stop

    with pytest.raises(Stop):  # rows written after every batch of 40
        await asyncio.to_thread(
            replay, analytics.database_url, reader, progress=interrupt_after_three, flush_rows=1
        )
    unchanged = await tables(analytics.database_url, "analytics")
    half = await tables(analytics.database_url, "analytics_rebuild")
    resumed = await asyncio.to_thread(replay, analytics.database_url, reader)

    assert unchanged == live
    assert half["projection_positions"][0][1] == events[119].position  # three batches of 40
    assert resumed.resumed_from == events[119].position
    assert resumed.events == len(events) - 120
    assert await tables(analytics.database_url, "analytics") == live


async def test_events_delivered_again_after_a_replay_change_nothing(
    analytics: RunningAnalytics,
    event_log: tuple[ScriptedEventLog, str],
    reader: EventLogReader,
    log: EventLog,
    make_history: History,
    tables: Any,
    reference: Any,
    reference_url: str,
) -> None:
    events = make_history(log, seed=31, conversations=4, steps=120)
    await publish(analytics, event_log[0], events)
    await analytics.projected(events[-1].position)
    await asyncio.to_thread(replay, analytics.database_url, reader)

    for event in events[-40:]:
        await analytics.publish_again(event, msg_id=f"again-{event.event_id}")
    marker = make_history(log, seed=32, conversations=1, steps=3)
    await publish(analytics, event_log[0], marker)
    await analytics.projected(marker[-1].position)

    await reference(reference_url, [*events, *marker])
    assert await tables(analytics.database_url, "analytics") == await tables(
        reference_url, "analytics"
    )


async def test_the_old_tables_are_kept_on_request_and_a_readers_grants_survive(
    analytics: RunningAnalytics,
    event_log: tuple[ScriptedEventLog, str],
    reader: EventLogReader,
    log: EventLog,
    make_history: History,
) -> None:
    role = f"reader_{analytics.topology.namespace}"
    with psycopg.connect(analytics.database_url, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {role}")
        connection.execute(f"GRANT USAGE ON SCHEMA analytics TO {role}")
        connection.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO {role}")
        connection.execute(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT SELECT ON TABLES TO {role}"
        )
    events = make_history(log, seed=41, conversations=3, steps=60)
    await publish(analytics, event_log[0], events)
    await analytics.projected(events[-1].position)

    result = await asyncio.to_thread(replay, analytics.database_url, reader, keep_old=True)

    try:
        with psycopg.connect(analytics.database_url, autocommit=True) as connection:
            connection.execute(f"SET ROLE {role}")
            responses = connection.execute("SELECT count(*) FROM analytics.responses").fetchone()
            old = connection.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (result.retired,)
            ).fetchone()
            view = connection.execute(
                "SELECT pg_get_viewdef('analytics.responses'::regclass)"
            ).fetchone()
    finally:
        with psycopg.connect(analytics.database_url, autocommit=True) as connection:
            with contextlib.suppress(psycopg.Error):
                connection.execute(f"DROP SCHEMA IF EXISTS {result.retired} CASCADE")
            connection.execute(f"DROP OWNED BY {role}")
            connection.execute(f"DROP ROLE {role}")
    assert result.retired is not None and result.retired.startswith("analytics_old_")
    assert responses is not None and responses[0] > 0
    assert old == (1,)
    assert view is not None and "analytics.response_facts" in view[0]


async def test_only_one_replay_runs_against_a_database_at_a_time(
    analytics: RunningAnalytics, reader: EventLogReader
) -> None:
    with psycopg.connect(analytics.database_url, autocommit=True) as running:
        running.execute("SELECT pg_advisory_lock(%s)", (REPLAY_LOCK,))

        with pytest.raises(ReplayRunning):
            await asyncio.to_thread(replay, analytics.database_url, reader)
