"""The outbox relay over real NATS JetStream: an event it cannot publish stops nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

import nats.errors
from google.protobuf.message import Message
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from prometheus_client import REGISTRY

from threadline.messaging.bus import JetStreamBus, Outcome, Outgoing, PublishAck
from threadline.messaging.dead_letters import (
    HEAD_BYTES,
    ORIGINAL_SHA256,
    ORIGINAL_SIZE,
    REASON,
    TRUNCATED,
)
from threadline.messaging.failures import Backoff
from threadline.messaging.relay import (
    EVENT_ID,
    POSITION,
    UNPUBLISHABLE,
    NotificationSource,
    OutboxRead,
    OutboxRecord,
    OutboxRelay,
)
from threadline.messaging.topology import (
    SESSION_EVENT,
    SESSION_EVENTS,
    STREAM_LIMITS,
    StreamLimits,
    Topology,
    ensure_streams,
)
from threadline.testing import eventually

DeadLettered = Callable[[int], Awaitable[list[RawStreamMsg]]]


@dataclass
class StoredLog:
    """The relay's `NotificationSource`: records kept in a list, as the event store keeps them."""

    records: list[OutboxRecord] = field(default_factory=list)

    def read_after(self, position: int, limit: int) -> Sequence[OutboxRecord]:
        return [r for r in self.records if r.position > position][:limit]

    def add(self, topology: Topology, payload: bytes, *, problem: str = "") -> OutboxRecord:
        position = len(self.records) + 1
        record = OutboxRecord(
            position=position,
            subject=topology.subject("session.events", "Conversation", "Noted"),
            payload=payload,
            msg_id=f"event-{position}",
            headers={},
            problem=problem,
        )
        self.records.append(record)
        return record


@dataclass
class CountingBus:
    """The real JetStream bus, counting publishes per message id; fails the first publish of
    the ids in `fail_once` as a lost connection would."""

    inner: JetStreamBus
    fail_once: set[str] = field(default_factory=set)
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def max_payload(self) -> int:
        return self.inner.max_payload

    async def publish(
        self,
        subject: str,
        message: Message | bytes,
        *,
        msg_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> PublishAck:
        self.calls[msg_id] = self.calls.get(msg_id, 0) + 1
        if msg_id in self.fail_once:
            self.fail_once.discard(msg_id)
            raise nats.errors.TimeoutError
        return await self.inner.publish(subject, message, msg_id=msg_id, headers=headers)

    async def publish_each(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        """The relay's way: the ids in `fail_once` lost (never sent), the rest pipelined."""
        lost: set[int] = set()
        for index, message in enumerate(messages):
            self.calls[message.msg_id] = self.calls.get(message.msg_id, 0) + 1
            if message.msg_id in self.fail_once:
                self.fail_once.discard(message.msg_id)
                lost.add(index)
        sent = iter(
            await self.inner.publish_each([m for i, m in enumerate(messages) if i not in lost])
        )
        return [
            nats.errors.TimeoutError() if index in lost else next(sent)
            for index in range(len(messages))
        ]


@asynccontextmanager
async def relaying(
    js: JetStreamContext,
    topology: Topology,
    log: NotificationSource,
    bus: CountingBus,
    *,
    batch_size: int = 50,
    subjects: str | None = None,
    dead_letter_slug: str = UNPUBLISHABLE,
) -> AsyncIterator[OutboxRelay]:
    relay = OutboxRelay(
        log,
        bus,
        js,
        topology.stream(SESSION_EVENTS),
        batch_size=batch_size,
        topology=topology,
        service="session",
        backoff=Backoff(first=0.01, limit=0.05),
        subjects=subjects,
        dead_letter_slug=dead_letter_slug,
    )
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)


async def published(js: JetStreamContext, topology: Topology) -> list[RawStreamMsg]:
    stream = topology.stream(SESSION_EVENTS)
    info = await js.stream_info(stream)
    return [await js.get_msg(stream, seq) for seq in range(1, info.state.last_seq + 1)]


def dead_lettered_count(stream: str) -> float:
    labels = {"stream": stream, "outcome": "dead_lettered"}
    return REGISTRY.get_sample_value("threadline_relay_events_total", labels) or 0.0


async def test_an_event_larger_than_the_payload_limit_is_dead_lettered_and_the_rest_flow(
    js: JetStreamContext, topology: Topology, dead_lettered: DeadLettered
) -> None:
    log, bus = StoredLog(), CountingBus(JetStreamBus(js))
    limit = bus.max_payload
    huge = hashlib.sha256(b"seed").digest() * (limit // 32 + 100)  # over the limit
    log.add(topology, b"first")
    oversized = log.add(topology, huge)
    log.add(topology, b"third")
    stream = topology.stream(SESSION_EVENTS)
    before = dead_lettered_count(stream)

    async with relaying(js, topology, log, bus) as relay:
        await eventually(lambda: relay.position == 3)
        log.add(topology, b"fourth")
        relay.wake()
        await eventually(lambda: relay.position == 4)
        dead = await dead_lettered(1)

    assert [m.data for m in await published(js, topology)] == [b"first", b"third", b"fourth"]
    assert oversized.msg_id not in bus.calls  # never sent: the server would drop the connection
    headers = {k: str(v) for k, v in (dead[0].headers or {}).items()}
    assert dead[0].subject == topology.subject("dlq.session.unpublishable")
    assert dead[0].data == huge[:HEAD_BYTES]
    assert headers[EVENT_ID] == oversized.msg_id
    assert headers[POSITION] == "2"
    assert headers[ORIGINAL_SIZE] == str(len(huge))
    assert headers[ORIGINAL_SHA256] == hashlib.sha256(huge).hexdigest()
    assert headers[TRUNCATED] == "true"
    assert "exceeds the largest message the stream takes" in headers[REASON]
    assert dead_lettered_count(stream) == before + 1


async def test_a_relay_started_after_a_dead_lettered_event_goes_on_from_there(
    js: JetStreamContext, topology: Topology, dead_lettered: DeadLettered
) -> None:
    log, bus = StoredLog(), CountingBus(JetStreamBus(js))
    log.add(topology, b"first")
    log.add(topology, b"x" * (bus.max_payload + 1))
    async with relaying(js, topology, log, bus) as relay:
        await eventually(lambda: relay.position == 2)
    log.add(topology, b"after restart")

    async with relaying(js, topology, log, bus) as relay:
        await eventually(lambda: relay.position == 3)

    assert [m.data for m in await published(js, topology)] == [b"first", b"after restart"]
    assert len(await dead_lettered(1)) == 1
    assert bus.calls == {"event-1": 1, "dlq:relay:event-2": 1, "event-3": 1}


async def test_an_event_the_source_cannot_read_is_dead_lettered_with_its_problem(
    js: JetStreamContext, topology: Topology, dead_lettered: DeadLettered
) -> None:
    log, bus = StoredLog(), CountingBus(JetStreamBus(js))
    log.add(topology, b'{"state": "unreadable"}', problem="cannot decode: KeyError('x')")
    log.add(topology, b"next")

    async with relaying(js, topology, log, bus) as relay:
        await eventually(lambda: relay.position == 2)
        dead = await dead_lettered(1)

    assert [m.data for m in await published(js, topology)] == [b"next"]
    assert dead[0].data == b'{"state": "unreadable"}'
    assert str((dead[0].headers or {})[REASON]) == "cannot decode: KeyError('x')"


async def test_a_lost_publish_is_retried_and_the_stream_keeps_the_events_in_position_order(
    js: JetStreamContext, topology: Topology
) -> None:
    # The third publish of a pipelined round is lost (as on a dropped connection) while the
    # ones after it were sent: stored ahead of it, they would make a consumer that keeps its
    # last position (analytics) skip it. Each publish names the event it must follow, so the
    # server refuses them, and the next round sends the rest again in order.
    log, bus = StoredLog(), CountingBus(JetStreamBus(js), fail_once={"event-3"})
    for index in range(6):
        log.add(topology, f"event {index + 1}".encode())

    async with relaying(js, topology, log, bus) as relay:
        await eventually(lambda: relay.position == 6)

    assert bus.calls["event-1"] == bus.calls["event-2"] == 1  # acknowledged: not sent again
    assert bus.calls["event-3"] == 2
    stored = await published(js, topology)
    assert [m.data for m in stored] == [r.payload for r in log.records]  # once each, in order
    assert [int((m.headers or {})[POSITION]) for m in stored] == [1, 2, 3, 4, 5, 6]


async def test_a_relay_behind_another_that_ran_ahead_publishes_nothing_twice(
    js: JetStreamContext, topology: Topology
) -> None:
    # Two session instances each run a relay over the same log: the one behind finds the
    # stream ahead of it and goes on from there (deduplication alone covers only 10 minutes).
    log = StoredLog()
    for index in range(4):
        log.add(topology, f"event {index + 1}".encode())
    async with relaying(js, topology, log, CountingBus(JetStreamBus(js))) as first:
        await eventually(lambda: first.position == 4)
    behind = OutboxRelay(
        log,
        CountingBus(JetStreamBus(js)),
        js,
        topology.stream(SESSION_EVENTS),
        topology=topology,
        service="session",
        backoff=Backoff(first=0.01, limit=0.05),
    )
    behind._last_msg_id = "event-2"  # as if it had stopped after event 2
    behind.position = 2
    log.add(topology, b"event 5")

    published_now = await behind.publish_pending()

    assert published_now == 3
    stored = await published(js, topology)
    assert [int((m.headers or {})[POSITION]) for m in stored] == [1, 2, 3, 4, 5]


async def test_the_streams_own_message_size_limit_is_respected(
    js: JetStreamContext, topology: Topology, dead_lettered: DeadLettered
) -> None:
    limits = {**STREAM_LIMITS, SESSION_EVENTS: StreamLimits(max_msg_size=4096)}
    limits = {
        name: StreamLimits(kept.max_age, None, kept.max_msg_size) for name, kept in limits.items()
    }
    await ensure_streams(js, topology, limits)
    log, bus = StoredLog(), CountingBus(JetStreamBus(js))
    log.add(topology, b"y" * 5000)
    log.add(topology, b"small")

    async with relaying(js, topology, log, bus) as relay:
        await eventually(lambda: relay.position == 2)
        dead = await dead_lettered(1)

    assert [m.data for m in await published(js, topology)] == [b"small"]
    assert dead[0].data == b"y" * 5000  # small enough for DEAD_LETTERS: kept whole
    assert "(4096)" in str((dead[0].headers or {})[REASON])


async def test_a_refusal_only_the_server_knows_is_dead_lettered_at_once(
    js: JetStreamContext, topology: Topology, dead_lettered: DeadLettered
) -> None:
    """The stream's size limit lowered after the relay read it: the server refuses the large
    event in the middle of a pipelined round, and that refusal — not a timeout — reaches the
    relay, which dead-letters the event and publishes the rest in order (nats-py's
    `publish_async` would lose the refusal: nats.py#985)."""
    log, bus = StoredLog(), CountingBus(JetStreamBus(js, timeout=30))
    relay = OutboxRelay(
        log, bus, js, topology.stream(SESSION_EVENTS), topology=topology, service="session"
    )
    await relay._resume()  # learns the stream's limit as it is now
    stream = topology.stream(SESSION_EVENTS)
    config = (await js.stream_info(stream)).config
    config.max_msg_size = 4096
    await js.update_stream(config)
    for payload in (b"first", b"y" * 5000, b"third", b"fourth"):
        log.add(topology, payload)

    loop = asyncio.get_running_loop()
    started = loop.time()
    while relay.position < 4 and loop.time() - started < 40:
        with contextlib.suppress(Exception):
            await relay.publish_pending()

    assert relay.position == 4
    assert loop.time() - started < 10  # not a 30 s timeout
    assert [m.data for m in await published(js, topology)] == [b"first", b"third", b"fourth"]
    dead = await dead_lettered(1)
    assert "maximum" in str((dead[0].headers or {})[REASON])


@dataclass
class PartitionOfLog:
    """One partition's view of a shared log (as the session's `StoredEvents` of a partition):
    its records, and how far the log was read past the others'."""

    log: StoredLog
    partition: int
    partitions: int = 2

    def read_after(self, position: int, limit: int) -> OutboxRead:
        head = len(self.log.records)
        mine = [
            r
            for r in self.log.records
            if r.position > position and r.position % self.partitions == self.partition
        ]
        if len(mine) > limit:
            return OutboxRead(mine[:limit], mine[limit - 1].position)
        return OutboxRead(mine, max(head, position))


def add_in_partition(log: StoredLog, topology: Topology, payload: bytes) -> OutboxRecord:
    """A record of partition `position % 2`, on that partition's subject."""
    position = len(log.records) + 1
    subject = topology.publish_subject(SESSION_EVENT, slot=position, aggregate="C", event="Noted")
    record = OutboxRecord(position, subject, payload, f"event-{position}", {})
    log.records.append(record)
    return record


def relaying_partition(
    js: JetStreamContext, topology: Topology, log: StoredLog, bus: CountingBus, partition: int
) -> AbstractAsyncContextManager[OutboxRelay]:
    """The relay of one partition of `log`, as the session runs it with several."""
    return relaying(
        js,
        topology,
        PartitionOfLog(log, partition),
        bus,
        batch_size=3,
        subjects=topology.relayed_in(partition),
        dead_letter_slug=f"unpublishable-p{partition}",
    )


async def test_each_partitions_relay_publishes_its_own_and_resumes_from_its_own_last(
    js: JetStreamContext, topology: Topology, dead_lettered: DeadLettered
) -> None:
    topology = Topology(topology.namespace, partitions=2)  # the fixture's streams
    log, bus = StoredLog(), CountingBus(JetStreamBus(js))
    for n in range(1, 11):  # odd positions: partition 1; even: partition 0
        add_in_partition(log, topology, f"event {n}".encode())

    async with relaying_partition(js, topology, log, bus, 1) as odd:
        await eventually(lambda: odd.position == 10)  # read past partition 0's too
    # The stream's last message is position 9, partition 1's: partition 0 starts from its own.
    async with (
        relaying_partition(js, topology, log, bus, 0) as even,
        relaying_partition(js, topology, log, bus, 1) as odd,
    ):
        await eventually(lambda: even.position == 10 and odd.position == 10)
        oversized = add_in_partition(log, topology, b"x" * (bus.max_payload + 1))  # 11
        for n in range(12, 21):
            add_in_partition(log, topology, f"event {n}".encode())
        even.wake()
        odd.wake()
        await eventually(lambda: even.position == 20 and odd.position == 20)
    add_in_partition(log, topology, b"event 21")
    add_in_partition(log, topology, b"event 22")
    # Restarted, each goes on after its own last: partition 1's after its dead letter (19 was
    # published after it), partition 0's after 20.
    async with (
        relaying_partition(js, topology, log, bus, 0) as even,
        relaying_partition(js, topology, log, bus, 1) as odd,
    ):
        await eventually(lambda: even.position == 22 and odd.position == 22)

    messages = await published(js, topology)
    positions = [int((m.headers or {})[POSITION]) for m in messages]
    assert sorted(positions) == [p for p in range(1, 23) if p != oversized.position]
    assert all(count == 1 for count in bus.calls.values())  # nothing sent twice
    for partition in (0, 1):
        root = topology.root(SESSION_EVENTS)
        mine = [p for p, m in zip(positions, messages, strict=True) if p % 2 == partition]
        assert mine == sorted(mine)
        assert all(
            m.subject == f"{root}.{partition}.C.Noted"
            for p, m in zip(positions, messages, strict=True)
            if p % 2 == partition
        )
    dead = await dead_lettered(1)
    assert dead[0].subject == topology.subject("dlq.session.unpublishable-p1")


async def test_a_lost_publish_of_a_partitions_relay_is_retried_before_anything_after_it(
    js: JetStreamContext, topology: Topology
) -> None:
    # No stream-wide fence for a partition's relay: a later event sent while an earlier one is
    # lost would be stored ahead of it. It sends nothing before the one ahead is acknowledged.
    topology = Topology(topology.namespace, partitions=2)  # the fixture's streams
    log, bus = StoredLog(), CountingBus(JetStreamBus(js), fail_once={"event-4"})
    for n in range(1, 13):
        add_in_partition(log, topology, f"event {n}".encode())

    async with relaying_partition(js, topology, log, bus, 0) as relay:
        await eventually(lambda: relay.position == 12)

    assert bus.calls["event-4"] == 2 and bus.calls["event-6"] == 1  # nothing sent ahead of it
    stored = await published(js, topology)
    assert [int((m.headers or {})[POSITION]) for m in stored] == [2, 4, 6, 8, 10, 12]
