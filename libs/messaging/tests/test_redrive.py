"""Re-driving dead letters over real NATS JetStream: a message a consumer dead-lettered reaches
it again once after the fix; re-driving twice publishes once; what cannot be re-driven whole is
refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from nats.js import JetStreamContext

from threadline.messaging.bus import JetStreamBus
from threadline.messaging.consumer import (
    ACK,
    ConsumerLoop,
    ConsumerSettings,
    DeadLetter,
    Delivery,
    Settlement,
    one_at_a_time,
)
from threadline.messaging.dead_letters import REASON, dead_letter
from threadline.messaging.failures import Backoff
from threadline.messaging.redrive import (
    REDRIVEN_FROM,
    DeadLetterNotFound,
    DeadLetterStore,
    Outcome,
)
from threadline.messaging.topology import INGEST_EVENTS, Topology
from threadline.testing import eventually


class Handler:
    """Refuses everything (dead-letters it as `bad_input`) until fixed; then keeps it."""

    def __init__(self) -> None:
        self.fixed = False
        self.kept: list[Delivery] = []

    async def __call__(self, delivery: Delivery) -> Settlement:
        if not self.fixed:
            return DeadLetter("the handler could not read it", slug="bad_input")
        self.kept.append(delivery)
        return ACK


@asynccontextmanager
async def consuming(
    js: JetStreamContext, topology: Topology, handler: Handler
) -> AsyncIterator[None]:
    loop = ConsumerLoop(
        js=js,
        dead_letters=JetStreamBus(js),
        topology=topology,
        service="tester",
        settings=ConsumerSettings(
            stream=topology.stream(INGEST_EVENTS),
            durable="redrive-under-test",
            filter_subject=topology.subject("ingest.events.>"),
            fetch_timeout=0.3,
            wait=Backoff(first=0.01, limit=0.05),
        ),
        handler=one_at_a_time(handler),
    )
    task = asyncio.create_task(loop.run())
    try:
        yield
    finally:
        loop.stop()
        await asyncio.wait_for(task, 10)


async def stream_messages(js: JetStreamContext, topology: Topology) -> int:
    return int((await js.stream_info(topology.stream(INGEST_EVENTS))).state.messages)


async def test_a_dead_lettered_message_redriven_after_the_fix_reaches_its_consumer_once(
    js: JetStreamContext, topology: Topology
) -> None:
    store = DeadLetterStore(js, topology)
    handler = Handler()
    subject = topology.subject("ingest.events", "109", "InboundMessageReceived")
    async with consuming(js, topology, handler):
        await JetStreamBus(js).publish(
            subject, b"the fact", msg_id="fact-1", headers={"Threadline-Event-Id": "e-1"}
        )

        async def dead_lettered() -> bool:
            return await store.depth() == 1

        await eventually(dead_lettered)
        [record] = await store.read()
        assert (record.service, record.slug, record.original_subject) == (
            "tester",
            "bad_input",
            subject,
        )
        assert record.original_msg_id == "fact-1" and record.data == b"the fact"
        handler.fixed = True

        first = await store.redrive(record)
        await eventually(lambda: len(handler.kept) == 1)
        second = await store.redrive(record)  # the same record again, within the window
        with pytest.raises(DeadLetterNotFound):
            await store.get(record.sequence)
        await asyncio.sleep(1.0)  # time for a second delivery, were there one

    assert (first.outcome, second.outcome) == (Outcome.REDRIVEN, Outcome.DUPLICATE)
    [kept] = handler.kept
    assert kept.data == b"the fact" and kept.subject == subject
    assert kept.headers["Threadline-Event-Id"] == "e-1"
    assert kept.headers[REDRIVEN_FROM] == str(record.sequence) and REASON not in kept.headers
    assert kept.headers["Nats-Msg-Id"] == f"redrive:{record.sequence}:fact-1"
    assert await stream_messages(js, topology) == 2  # the original and one re-drive
    assert await store.depth() == 0 and await store.read() == []


async def test_redrive_is_recorded_so_a_second_redrive_past_the_window_publishes_nothing(
    js: JetStreamContext, topology: Topology
) -> None:
    store = DeadLetterStore(js, topology)
    await dead_letter(
        JetStreamBus(js),
        topology,
        service="session",
        slug="bad_input",
        reason="refused",
        subject=topology.subject("ingest.events", "109", "InboundMessageReceived"),
        data=b"payload",
        stream=topology.stream(INGEST_EVENTS),
        sequence=7,
    )
    [record] = await store.read()

    redriven = await store.redrive(record)
    # Past the duplicate window, the dead letter is what is consulted: it is gone.
    again = await store.read()

    assert redriven.outcome is Outcome.REDRIVEN and again == []
    assert await stream_messages(js, topology) == 1


async def test_list_filters_by_service_and_reason_and_pages_by_sequence(
    js: JetStreamContext, topology: Topology
) -> None:
    store = DeadLetterStore(js, topology)
    for service, slug in [("session", "a"), ("outbound", "b"), ("session", "b")]:
        await dead_letter(
            JetStreamBus(js),
            topology,
            service=service,
            slug=slug,
            reason=f"{service} {slug}",
            subject=topology.subject("ingest.events", "109", "Fact"),
            data=slug.encode(),
            stream=topology.stream(INGEST_EVENTS),
            sequence=1,
            msg_id=f"{service}-{slug}",
        )

    every = await store.read()
    sessions = await store.read(service="session")
    bees = await store.read(slug="b")
    after_first = await store.read(after=every[0].sequence, limit=1)

    assert [(r.service, r.slug) for r in every] == [
        ("session", "a"),
        ("outbound", "b"),
        ("session", "b"),
    ]
    assert [r.slug for r in sessions] == ["a", "b"]
    assert [r.service for r in bees] == ["outbound", "session"]
    assert [r.sequence for r in after_first] == [every[1].sequence]


class SmallBus(JetStreamBus):
    """A bus whose server takes messages of 8 KiB at most: a larger dead letter is cut."""

    @property
    def max_payload(self) -> int:
        return 8 * 1024


async def test_a_truncated_or_streamless_dead_letter_is_refused_and_kept(
    js: JetStreamContext, topology: Topology
) -> None:
    store = DeadLetterStore(js, topology)
    await dead_letter(
        SmallBus(js),
        topology,
        service="session",
        slug="too_large",
        reason="too large",
        subject=topology.subject("ingest.events", "109", "Fact"),
        data=b"x" * 20_000,
        stream=topology.stream(INGEST_EVENTS),
        sequence=3,
    )
    await dead_letter(
        JetStreamBus(js),
        topology,
        service="gateway",
        slug="webhook_failed",
        reason="webhook down",
        subject=topology.subject("session.events", "Conversation", "Escalated"),
        data=b'{"event": "conversation.escalated"}',
    )
    truncated, webhook = await store.read()

    results = await store.redrive_all([truncated, webhook])

    assert truncated.truncated
    assert [r.outcome for r in results] == [Outcome.TRUNCATED, Outcome.NOT_FROM_A_STREAM]
    assert all(r.refused for r in results)
    assert await store.depth() == 2 and await stream_messages(js, topology) == 0


async def test_redriving_everything_while_the_consumer_still_fails_ends_and_takes_each_once(
    js: JetStreamContext, topology: Topology
) -> None:
    store = DeadLetterStore(js, topology)
    handler = Handler()  # never fixed: every re-drive comes back as a new dead letter
    async with consuming(js, topology, handler):
        for n in range(3):
            await JetStreamBus(js).publish(
                topology.subject("ingest.events", "109", "Fact"),
                f"fact {n}".encode(),
                msg_id=f"f{n}",
            )

        async def all_dead() -> bool:
            return await store.depth() == 3

        await eventually(all_dead)
        first = [r.sequence for r in await store.read()]

        results = [r async for r in store.redrive_matching(slug="bad_input", page=1)]

        async def back_again() -> bool:
            return await store.depth() == 3

        await eventually(back_again)
        again = await store.read()

    assert [r.record.sequence for r in results] == first
    assert all(r.outcome is Outcome.REDRIVEN for r in results)
    assert [r.data for r in again] == [b"fact 0", b"fact 1", b"fact 2"]
    assert min(r.sequence for r in again) > max(first)
    assert await stream_messages(js, topology) == 6
