"""`EventLogReader`: where the log ends, and where a stream's events sit in it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from uuid import uuid4

import grpc

from threadline.analytics.adapters.outbound.session_event_log import EventLogReader, _page
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.contracts.session.v1 import session_pb2 as pb

if TYPE_CHECKING:
    from conftest import EventLog, ScriptedEventLog


async def test_the_head_is_the_last_position_even_with_gaps(
    event_log: tuple[ScriptedEventLog, str], reader: EventLogReader, log: EventLog
) -> None:
    contact = uuid4()
    for _ in range(3000):
        event = log.renamed(contact, "Ana")
        log.position += 2  # positions may have gaps
        event_log[0].append(event)

    head = await asyncio.to_thread(reader.head)

    assert head == event_log[0].events[-1].position


async def test_an_empty_log_ends_at_zero(reader: EventLogReader) -> None:
    assert await asyncio.to_thread(reader.head) == 0


async def test_a_streams_events_come_with_their_positions_in_the_log(
    event_log: tuple[ScriptedEventLog, str], reader: EventLogReader, log: EventLog
) -> None:
    contact, conversation = uuid4(), uuid4()
    for _ in range(500):
        event_log[0].append(log.renamed(uuid4(), "someone else"))
    mine = [log.conversation(conversation, contact), log.inbound(conversation, "m-1")]
    event_log[0].append(mine[0], log.renamed(contact, "Ana"), mine[1])

    stream = await asyncio.to_thread(reader.read_stream, str(conversation))

    assert [e.position for e in stream] == [mine[0].position, mine[1].position]


async def test_the_whole_log_is_read_in_pages_from_any_position(
    event_log: tuple[ScriptedEventLog, str], log: EventLog
) -> None:
    contact = uuid4()
    event_log[0].append(*(log.renamed(contact, f"name {i}") for i in range(2500)))
    positions = [e.position for e in event_log[0].events]

    with grpc.insecure_channel(event_log[1]) as channel:
        reader = EventLogReader(channel, "any-token", page_size=1000)
        everything = await asyncio.to_thread(lambda: list(reader.read_all()))
        later = await asyncio.to_thread(lambda: list(reader.read_all(after=positions[1499])))
        few = await asyncio.to_thread(lambda: list(reader.read_all(after=10, limit=1200)))

    assert [e.position for e in everything] == positions
    assert [e.position for e in later] == positions[1500:]
    assert [e.position for e in few] == positions[10:1210]


def test_a_page_is_searched_for_nul_unless_the_session_vouches_it_holds_none() -> None:
    """Searching every string costs ~6 µs an event; a zero byte in a page is mostly an empty
    message's length or a double's byte, so the session's `nul_free` is taken at its word."""
    event = SessionEvent(event_id="e-1", position=1)
    event.customer_message_received.content.text = "a\x00b"
    raw = pb.SessionEventPage(events=[event]).SerializeToString()
    vouched = pb.SessionEventPage(events=[event], nul_free=True).SerializeToString()

    assert _page(raw).events[0].customer_message_received.content.text == "a\ufffdb"
    assert _page(vouched).events[0].customer_message_received.content.text == "a\x00b"
