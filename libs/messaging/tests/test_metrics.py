"""JetStream's view of a service on its /metrics, over real NATS: a consumer's lag, its dead
letters (the counter and what waits in DEAD_LETTERS), and the relay's lag."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import aiohttp
import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from threadline.messaging.bus import JetStreamBus
from threadline.messaging.dead_letters import dead_letter
from threadline.messaging.metrics import JETSTREAM, RelayLag, watch_jetstream
from threadline.messaging.relay import OutboxRecord, OutboxRelay
from threadline.messaging.topology import (
    SESSION_DRAFTS,
    SESSION_EVENTS,
    SESSION_INGEST,
    Topology,
)
from threadline.servicekit.ops_http import OpsServer

SERVICE = "session"


async def scrape(port: int) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        return await response.text()


def sample(body: str, name: str, **labels: str) -> float | None:
    """The value of `name` with exactly `labels` in an exposition, None when absent."""
    for line in body.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return None


@pytest.fixture
async def ops(
    js: JetStreamContext, topology: Topology
) -> AsyncIterator[tuple[OpsServer, AsyncExitStack]]:
    async with AsyncExitStack() as stack:
        refresher = watch_jetstream(stack, js, topology, SERVICE, min_interval=0)
        server = OpsServer(host="127.0.0.1", port=0, refreshers=[refresher])
        await server.start()
        stack.push_async_callback(server.stop)
        yield server, stack


async def test_a_consumer_with_messages_waiting_shows_its_lag(
    js: JetStreamContext, topology: Topology, ops: tuple[OpsServer, AsyncExitStack]
) -> None:
    server, _ = ops
    stream = topology.stream(SESSION_INGEST.stream)
    await js.add_consumer(
        stream,
        ConsumerConfig(
            durable_name=SESSION_INGEST.name,
            ack_policy=AckPolicy.EXPLICIT,
            filter_subject=topology.filter_subject(SESSION_INGEST),
            ack_wait=30,
        ),
    )
    for n in range(5):
        await js.publish(topology.subject("ingest.events", "123", f"Fact{n}"), b"x")
    subscription = await js.pull_subscribe_bind(durable=SESSION_INGEST.name, stream=stream)
    (first,) = await subscription.fetch(1, timeout=5)
    await first.nak()
    seen = {first.metadata.sequence.stream}
    while True:  # until the nak'd one comes back; the others it passes are acked
        (message,) = await subscription.fetch(1, timeout=5)
        seen.add(message.metadata.sequence.stream)
        if message.metadata.num_delivered == 2:
            break
        await message.ack()

    body = await scrape(server.port)

    labels = {"stream": stream, "consumer": SESSION_INGEST.name}
    assert sample(body, "threadline_consumer_pending_messages", **labels) == 5 - len(seen)
    assert sample(body, "threadline_consumer_ack_pending_messages", **labels) == 1
    assert sample(body, "threadline_consumer_redelivered_messages", **labels) == 1
    # A consumer not made yet is left out, not an error.
    drafts = {"stream": topology.stream(SESSION_DRAFTS.stream), "consumer": SESSION_DRAFTS.name}
    assert sample(body, "threadline_consumer_pending_messages", **drafts) is None


async def test_a_dead_letter_shows_in_the_counter_and_in_the_depth(
    js: JetStreamContext, topology: Topology, ops: tuple[OpsServer, AsyncExitStack]
) -> None:
    server, _ = ops
    bus = JetStreamBus(js)
    before = sample(
        await scrape(server.port), "threadline_dead_letters_total", service=SERVICE, slug="poison"
    )

    for n in range(2):
        await dead_letter(
            bus,
            topology,
            service=SERVICE,
            slug="poison",
            reason="cannot parse",
            subject=topology.subject("ingest.events", "123", "Fact"),
            data=b"\xff",
            stream=topology.stream("INGEST_EVENTS"),
            sequence=n + 1,
        )
    await dead_letter(
        bus,
        topology,
        service="outbound",
        slug="rejected",
        reason="another service's",
        subject="x",
        data=b"",
    )
    body = await scrape(server.port)

    counted = sample(body, "threadline_dead_letters_total", service=SERVICE, slug="poison")
    assert counted == (before or 0) + 2
    assert sample(body, "threadline_dead_letter_messages", service=SERVICE, slug="poison") == 2
    # Only this service's dead letters by slug; the stream's depth counts everyone's.
    assert (
        sample(body, "threadline_dead_letter_messages", service="outbound", slug="rejected") is None
    )
    dead_stream = topology.stream("DEAD_LETTERS")
    assert sample(body, "threadline_dead_letter_stream_messages", stream=dead_stream) == 3


async def test_the_relay_lag_is_what_is_stored_and_not_yet_published(
    js: JetStreamContext, topology: Topology
) -> None:
    records = [
        OutboxRecord(
            position=n,
            subject=topology.subject("session.events", "Conversation", "Noted"),
            payload=b"{}",
            msg_id=f"metrics-event-{n}",
            headers={},
        )
        for n in (1, 2, 3)
    ]

    class Source:
        def read_after(self, position: int, limit: int) -> list[OutboxRecord]:
            return [r for r in records if r.position > position][:limit]

    stream = topology.stream(SESSION_EVENTS)
    relay = OutboxRelay(Source(), JetStreamBus(js), js, stream, topology=topology, service=SERVICE)
    async with AsyncExitStack() as stack:
        refresher = watch_jetstream(
            stack,
            js,
            topology,
            SERVICE,
            relay=RelayLag(relay, lambda: len(records)),
            min_interval=0,
        )
        server = OpsServer(host="127.0.0.1", port=0, refreshers=[refresher])
        await server.start()
        stack.push_async_callback(server.stop)

        starting = await scrape(server.port)  # the relay has not read its position yet
        await relay._resume()
        behind = await scrape(server.port)
        await relay.publish_pending()
        caught_up = await scrape(server.port)

    assert sample(starting, "threadline_relay_pending_events", stream=stream) is None
    assert sample(behind, "threadline_relay_pending_events", stream=stream) == 3
    assert sample(caught_up, "threadline_relay_pending_events", stream=stream) == 0
    assert sample(caught_up, "threadline_relay_seconds_behind", stream=stream) == 0


def test_the_relay_lag_is_dated_by_the_first_read_that_saw_the_oldest_waiting_event() -> None:
    class Relay:
        stream = "SESSION_EVENTS"
        position = 0
        resumed = True

    lag = RelayLag(Relay(), lambda: 0)  # type: ignore[arg-type]

    assert lag.observe(0, 0, now=100.0).seconds_behind == 0
    assert lag.observe(4, 0, now=110.0).pending == 4
    assert lag.observe(9, 2, now=130.0).seconds_behind == 20  # event 3 was seen at 110
    assert lag.observe(9, 5, now=140.0).seconds_behind == 10  # event 6 was first seen at 130
    state = lag.observe(9, 9, now=150.0)
    assert (state.pending, state.seconds_behind) == (0, 0)


async def test_a_stopped_service_leaves_nothing_behind(
    js: JetStreamContext, topology: Topology
) -> None:
    async with AsyncExitStack() as stack:
        watch_jetstream(stack, js, topology, SERVICE)
        watching = len(JETSTREAM._watches)
    assert len(JETSTREAM._watches) == watching - 1
