"""The projections' batch handler on a real PostgreSQL: exactly once, poison isolated."""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import pytest
from prometheus_client import REGISTRY
from psycopg_pool import AsyncConnectionPool

from threadline.analytics.adapters.integration_events import UndecodableEvent, decode
from threadline.analytics.adapters.outbound.read_models.positions import read_positions
from threadline.analytics.bootstrap import projection_consumer
from threadline.analytics.domain.write.projection import PROJECTION
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.consumer import ACK, DeadLetter, Delivery
from threadline.messaging.relay import POSITION
from threadline.rules.partitions import conversation_id_in_slot

if TYPE_CHECKING:
    from conftest import EventLog


def delivered(*events: SessionEvent) -> list[Delivery]:
    return [
        Delivery(
            subject="session.events.x",
            data=event.SerializeToString(),
            headers={POSITION: str(event.position)},
            stream_sequence=index,
            num_delivered=1,
        )
        for index, event in enumerate(events, start=1)
    ]


async def message_rows(pool: AsyncConnectionPool[Any], conversation: UUID) -> list[tuple[Any, ...]]:
    async with pool.connection() as connection:
        cursor = await connection.execute(
            "SELECT id, status, wamid FROM analytics.messages"
            " WHERE conversation_id = %s ORDER BY position",
            (conversation,),
        )
        rows: list[tuple[Any, ...]] = await cursor.fetchall()
    return rows


async def message_count(pool: AsyncConnectionPool[Any], conversation: UUID) -> int:
    async with pool.connection() as connection:
        cursor = await connection.execute(
            "SELECT message_count FROM analytics.conversations WHERE id = %s", (conversation,)
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def duplicates() -> float:
    return REGISTRY.get_sample_value("threadline_analytics_duplicate_messages_total") or 0.0


def test_a_payload_that_is_not_a_session_event_cannot_be_decoded() -> None:
    garbage = Delivery("session.events.x", b"\xff\xff", {}, 1, 1)

    with pytest.raises(UndecodableEvent, match="not a SessionEvent"):
        decode(garbage)


def test_the_position_header_stands_in_for_an_unset_position_field() -> None:
    event = SessionEvent(event_id="e-1")
    delivery = Delivery("session.events.x", event.SerializeToString(), {POSITION: "42"}, 1, 1)

    assert decode(delivery).position == 42


def test_an_event_without_any_position_cannot_be_decoded() -> None:
    delivery = Delivery("session.events.x", SessionEvent().SerializeToString(), {}, 1, 1)

    with pytest.raises(UndecodableEvent, match="no position"):
        decode(delivery)


async def test_a_batch_handled_twice_is_projected_once(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    contact, conversation = uuid4(), uuid4()
    batch = delivered(
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, "m-1"),
        log.queued(conversation, "m-2"),
        log.dispatched(conversation, "m-2", "wamid.2"),
    )
    projector = projection_consumer(pool)

    first = await projector.handle(batch)
    second = await projector.handle(batch)

    assert list(first) == list(second) == [ACK] * 5
    assert await message_rows(pool, conversation) == [
        ("m-1", "received", "wamid.in.m-1"),
        ("m-2", "queued", "wamid.2"),
    ]
    assert await message_count(pool, conversation) == 2


async def test_statuses_of_a_later_batch_update_messages_of_an_earlier_one(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    contact, conversation = uuid4(), uuid4()
    projector = projection_consumer(pool)
    await projector.handle(
        delivered(
            log.contact(contact),
            log.conversation(conversation, contact),
            log.queued(conversation, "m-1"),
            log.queued(conversation, "m-2"),
        )
    )

    await projector.handle(
        delivered(
            log.dispatched(conversation, "m-1", "wamid.1"),
            log.status(conversation, "m-1", "delivered"),
            log.failed(conversation, "m-2", code=131047),
        )
    )

    assert await message_rows(pool, conversation) == [
        ("m-1", "delivered", "wamid.1"),
        ("m-2", "failed", ""),
    ]


def unindexable(length: int = 3000) -> str:
    """Text PostgreSQL cannot put in a b-tree index (random, so compression cannot shrink it
    under the 2,704-byte limit of an index row)."""
    return "".join(random.choices(string.ascii_letters + string.digits, k=length))


async def test_only_the_event_the_database_rejects_is_dead_lettered(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    contact, conversation = uuid4(), uuid4()
    batch = delivered(
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, "m-1"),
        log.inbound(conversation, unindexable()),  # its id is the messages' primary key
        log.inbound(conversation, "m-2"),
    )

    outcomes = await projection_consumer(pool).handle(batch)

    assert [type(o).__name__ for o in outcomes] == ["Ack", "Ack", "Ack", "DeadLetter", "Ack"]
    dead = outcomes[3]
    assert isinstance(dead, DeadLetter) and dead.slug == "unprojectable"
    assert "ProgramLimitExceeded" in dead.reason
    assert [row[0] for row in await message_rows(pool, conversation)] == ["m-1", "m-2"]
    assert await message_count(pool, conversation) == 2


async def test_a_message_added_again_under_a_new_position_is_a_known_duplicate(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    """Formerly dead-lettered: the session derives an inbound message's id from its wamid, so
    the same wamid in another conversation gives the same id. The first is kept."""
    contact, conversation, other = uuid4(), uuid4(), uuid4()
    projector = projection_consumer(pool)
    await projector.handle(
        delivered(
            log.contact(contact),
            log.conversation(conversation, contact),
            log.conversation(other, contact),
            log.inbound(conversation, "m-1", text="first"),
        )
    )
    before = duplicates()

    outcomes = await projector.handle(
        delivered(log.inbound(other, "m-1", text="second"), log.inbound(other, "m-2"))
    )

    assert outcomes == [ACK, ACK]
    assert duplicates() == before + 1
    assert await message_rows(pool, conversation) == [("m-1", "received", "wamid.in.m-1")]
    assert [row[0] for row in await message_rows(pool, other)] == ["m-2"]
    assert await message_count(pool, conversation) == 1
    assert await message_count(pool, other) == 1


async def test_a_message_id_twice_in_one_batch_keeps_the_first(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    contact, conversation, other = uuid4(), uuid4(), uuid4()

    outcomes = await projection_consumer(pool).handle(
        delivered(
            log.contact(contact),
            log.conversation(conversation, contact),
            log.conversation(other, contact),
            log.inbound(conversation, "m-1", text="first"),
            log.inbound(other, "m-1", text="second"),
        )
    )

    assert all(o is ACK for o in outcomes)
    assert [row[0] for row in await message_rows(pool, conversation)] == ["m-1"]
    assert await message_rows(pool, other) == []


async def test_an_undecodable_delivery_is_dead_lettered_and_the_rest_applies(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    contact = uuid4()
    batch: Sequence[Delivery] = [
        Delivery("session.events.x", b"\xff\xff", {POSITION: "1"}, 1, 1),
        *delivered(log.contact(contact)),
    ]

    outcomes = await projection_consumer(pool).handle(batch)

    assert isinstance(outcomes[0], DeadLetter) and outcomes[0].slug == "undecodable"
    assert outcomes[1] is ACK
    async with pool.connection() as connection:
        cursor = await connection.execute("SELECT count(*) FROM analytics.contacts")
        assert await cursor.fetchone() == (1,)


async def stored_position(pool: AsyncConnectionPool[Any]) -> int:
    async with pool.connection() as connection:
        return (await read_positions(connection, PROJECTION)).complete


async def test_events_still_with_a_crashed_consumer_are_read_back_and_projected_first(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    # Found by make chaos: analytics SIGKILLed mid-batch leaves its deliveries unacknowledged
    # until their ack wait ends, while its successor is handed the events after them. Projected
    # first, those moved the position past the late ones, which were then skipped as seen.
    contact, conversation = uuid4(), uuid4()
    stream = delivered(
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, "m-1"),
        log.inbound(conversation, "m-2"),
        log.inbound(conversation, "m-3"),
    )
    reads: list[int] = []

    async def read_at(sequence: int) -> Delivery | None:
        reads.append(sequence)
        return stream[sequence - 1] if 1 <= sequence <= len(stream) else None

    crashed = projection_consumer(pool, read_at=read_at)
    assert list(await crashed.handle(stream[:2])) == [ACK, ACK]  # then killed holding m-1, m-2

    successor = projection_consumer(pool, read_at=read_at)
    assert list(await successor.handle([stream[4]])) == [ACK]

    assert [row[0] for row in await message_rows(pool, conversation)] == ["m-1", "m-2", "m-3"]
    assert reads == [4, 3, 2]  # back to the last one projected, no further
    # The crashed consumer's deliveries come back: already projected, they change nothing.
    assert list(await successor.handle(stream[2:4])) == [ACK, ACK]
    assert await message_count(pool, conversation) == 3


async def test_a_dead_lettered_event_moves_the_position_so_none_waits_on_it(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    contact, conversation = uuid4(), uuid4()
    events = [
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, unindexable()),
    ]
    batch = delivered(*events)

    outcomes = await projection_consumer(pool).handle(batch)

    assert isinstance(outcomes[2], DeadLetter)
    assert await stored_position(pool) == events[2].position


async def stored_rows(pool: AsyncConnectionPool[Any]) -> dict[str, int]:
    async with pool.connection() as connection:
        cursor = await connection.execute(
            "SELECT name, position FROM analytics.projection_positions"
        )
        return {str(name): int(position) for name, position in await cursor.fetchall()}


async def test_each_partition_relayed_behind_another_is_still_projected(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    # Two relays, one a partition: partition 1's events were stored first (lower positions)
    # but reach the stream after partition 0's. One position for the whole log would pass
    # over them as seen.
    contacts = [conversation_id_in_slot(k) for k in (0, 1)]
    conversations = [conversation_id_in_slot(k) for k in (0, 1)]
    behind = [
        log.contact(contacts[1]),
        log.conversation(conversations[1], contacts[1]),
        log.inbound(conversations[1], "b-1"),
    ]
    ahead = [
        log.contact(contacts[0]),
        log.conversation(conversations[0], contacts[0]),
        log.inbound(conversations[0], "a-1"),
    ]
    stream = delivered(*ahead, *behind)  # in the order the stream holds them
    projector = projection_consumer(pool, partitions=2)

    assert list(await projector.handle(stream[:3])) == [ACK] * 3
    assert list(await projector.handle(stream[3:])) == [ACK] * 3
    assert list(await projector.handle(stream)) == [ACK] * 6  # redelivered: nothing twice

    assert [row[0] for row in await message_rows(pool, conversations[0])] == ["a-1"]
    assert [row[0] for row in await message_rows(pool, conversations[1])] == ["b-1"]
    assert await message_count(pool, conversations[1]) == 1
    assert await stored_rows(pool) == {
        PROJECTION: ahead[-1].position,
        f"{PROJECTION}/p1": behind[-1].position,
    }


async def test_partitions_added_later_start_where_the_one_position_was(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    contact, conversation = conversation_id_in_slot(1), conversation_id_in_slot(1)
    before = [
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, "m-1"),
    ]
    await projection_consumer(pool).handle(delivered(*before))  # one partition: one row
    assert await stored_rows(pool) == {PROJECTION: before[-1].position}

    after = log.inbound(conversation, "m-2")
    projector = projection_consumer(pool, partitions=2)
    # Partition 1's events up to the old position are seen; the one after is projected.
    assert list(await projector.handle(delivered(before[-1], after))) == [ACK, ACK]

    assert [row[0] for row in await message_rows(pool, conversation)] == ["m-1", "m-2"]
    assert await stored_rows(pool) == {
        PROJECTION: before[-1].position,
        f"{PROJECTION}/p1": after.position,
    }
