"""The session partitioned by customer over real NATS and PostgreSQL (issue 15, item 2).

Two instances share four partitions and the auto-resolver, each duty held by exactly one of
them; every customer's facts are read by the owner of the customer's partition and recorded
once; each conversation's id carries its customer's slot, so what the AI responder and outbound
publish about it reaches the same partition; each partition's stored events are relayed by its
owner alone, on subjects naming the partition; when one instance stops, the other takes its
duties over and nothing is lost or recorded twice, and each partition's events reach the stream
in the store's order."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any, cast
from uuid import uuid4

from nats.js import JetStreamContext

from threadline.contracts.events.v1 import ai_pb2, common_pb2, ingest_pb2
from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.messaging.bus import EventBus
from threadline.messaging.consumer import filters_several
from threadline.messaging.relay import POSITION, OutboxRelay
from threadline.messaging.topology import (
    AI_EVENTS,
    INBOUND_MESSAGE_RECEIVED,
    INGEST_EVENTS,
    REPLY_DRAFTED,
    SESSION_DRAFTS,
    SESSION_EVENTS,
    SESSION_INGEST,
    TYPING_INDICATOR_REQUESTED,
    Topology,
)
from threadline.rules.partitions import conversation_slot, customer_slot
from threadline.session.adapters.inbound.duties import AUTO_RESOLVER, SessionDuties, partition_duty
from threadline.session.adapters.outbound.stored_records import StoredRecords
from threadline.session.adapters.outbound.writer import EventStoreWriter
from threadline.session.bootstrap import RunningSession, bootstrap
from threadline.session.config import SessionConfig
from threadline.testing import eventually

ConfigFactory = Callable[..., SessionConfig]

PARTITIONS = 4
DUTIES = frozenset({AUTO_RESOLVER, *(partition_duty(k) for k in range(PARTITIONS))})


async def publish(js: JetStreamContext, topology: Topology, wa_id: str) -> int:
    """A customer's first message, on its partition's subject; returns the partition."""
    fact = ingest_pb2.InboundMessageReceived(
        wamid=f"wamid.{uuid4().hex}",
        phone_number_id="pn-7",
        customer=common_pb2.CustomerIdentity(wa_id=wa_id),
        content=common_pb2.MessageContent(type="text", text="hello"),
    )
    fact.sent_at.FromDatetime(datetime.now(UTC))
    fact.received_at.FromDatetime(datetime.now(UTC))
    slot = customer_slot("pn-7", wa_id)
    subject = topology.publish_subject(INBOUND_MESSAGE_RECEIVED, slot=slot, phone_number_id="pn-7")
    await js.publish(subject, fact.SerializeToString(), headers={"Nats-Msg-Id": fact.wamid})
    return slot % PARTITIONS


async def draft_reply(js: JetStreamContext, topology: Topology, conversation_id: str) -> int:
    """The AI responder's typing indicator and drafted reply for a conversation, on the
    conversation's partition's subjects; returns the partition."""
    typing = ai_pb2.TypingIndicatorRequested(
        request_id=f"typing-{conversation_id}", conversation_id=conversation_id
    )
    draft = ai_pb2.ReplyDrafted(
        draft_id=f"draft-{conversation_id}",
        conversation_id=conversation_id,
        content=common_pb2.MessageContent(type="text", text="Hello!"),
    )
    for route, fact, msg_id in (
        (TYPING_INDICATOR_REQUESTED, typing, typing.request_id),
        (REPLY_DRAFTED, draft, draft.draft_id),
    ):
        subject = topology.conversation_subject(route, conversation_id)
        await js.publish(subject, fact.SerializeToString(), headers={"Nats-Msg-Id": msg_id})
    return conversation_slot(conversation_id) % PARTITIONS


async def relayed(js: JetStreamContext, topology: Topology) -> list[events_pb.SessionEvent]:
    """Every event on the stream, in its order; each on a subject naming its aggregate's
    partition (the slot its id carries)."""
    stream = topology.stream(SESSION_EVENTS)
    root = topology.root(SESSION_EVENTS)
    info = await js.stream_info(stream)
    events = []
    for seq in range(1, info.state.last_seq + 1):
        message = await js.get_msg(stream, seq)
        event = events_pb.SessionEvent.FromString(message.data)
        assert int((message.headers or {})[POSITION]) == event.position
        partition = conversation_slot(event.aggregate_id) % PARTITIONS
        assert message.subject == f"{root}.{partition}.{event.event_type}", message.subject
        events.append(event)
    return events


def partition_of_event(event: events_pb.SessionEvent) -> int:
    return conversation_slot(event.aggregate_id) % PARTITIONS


RECEIVED, QUEUED = "customer_message_received", "outbound_message_queued"


async def relayed_at_least(js: JetStreamContext, topology: Topology, kind: str, count: int) -> bool:
    """Whether the stream holds at least `count` relayed events of `kind` (a body field)."""
    return sum(e.HasField(kind) for e in await relayed(js, topology)) >= count


def shared(instances: list[RunningSession]) -> bool:
    """Every duty held by exactly one instance, each holding its fair share or one less."""
    held = [instance.keeper.held for instance in instances]
    together = [duty for duties in held for duty in duties]
    fair = -(-len(DUTIES) // len(instances))
    return (
        sorted(together) == sorted(DUTIES)
        and all(fair - 1 <= len(h) <= fair for h in held)
        and all(instance.keeper.members == len(instances) for instance in instances)
    )


async def test_two_instances_share_the_partitions_and_one_takes_over_when_the_other_stops(
    session_config: ConfigFactory, nats_namespace: str, js: JetStreamContext
) -> None:
    topology = Topology(nats_namespace, partitions=PARTITIONS)
    config = session_config(session_partitions=PARTITIONS, lease_seconds=1.5, check_reads=True)
    customers = [f"1555800{n:04d}" for n in range(60)]
    per_partition = Counter[int]()
    async with AsyncExitStack() as second_stack:
        first_stack = AsyncExitStack()
        await first_stack.__aenter__()
        try:
            first = await bootstrap(config, first_stack)
            second = await bootstrap(config, second_stack)
            await eventually(lambda: shared([first, second]), timeout=15)
            resolvers = [i for i in (first, second) if i.duties.resolver is not None]
            assert len(resolvers) == 1  # the auto-resolver runs once
            # Each instance runs the relays and consumers of its own partitions, only those.
            for instance in (first, second):
                mine = {
                    int(d.rsplit("-", 1)[1]) for d in instance.keeper.held if d != AUTO_RESOLVER
                }
                assert set(instance.duties.relays) == mine
                names = {loop.name for loop in instance.loops} - {AUTO_RESOLVER}
                assert {name for name in names if name.startswith("relay")} == {
                    f"relay-p{k}" for k in mine
                }
                assert {name.rsplit("-", 1)[1] for name in names} == {f"p{k}" for k in mine}

            for wa_id in customers[:40]:
                per_partition[await publish(js, topology, wa_id)] += 1

            await eventually(lambda: relayed_at_least(js, topology, RECEIVED, 40), timeout=30)
            # The customers' facts were read by their partitions' consumers, each all of its own.
            for k in range(PARTITIONS):
                durable = SESSION_INGEST.in_partition(k, PARTITIONS).name
                info = await js.consumer_info(topology.stream(INGEST_EVENTS), durable)
                assert info.delivered.consumer_seq == per_partition[k], durable
                assert info.num_ack_pending == 0 and info.num_pending == 0
        finally:
            await first_stack.aclose()  # the first instance stops: its leases are released

        await eventually(lambda: second.keeper.held == DUTIES, timeout=10)
        for wa_id in customers[40:]:
            await publish(js, topology, wa_id)
        await eventually(lambda: relayed_at_least(js, topology, RECEIVED, 60), timeout=30)

        # The AI responder's facts reach the partition's drafts consumer (held by the second
        # instance now): each reply is queued once; the typing indicator, for outbound alone,
        # is not even delivered to it where the server filters on several subjects.
        started_ids = [
            e.aggregate_id
            for e in await relayed(js, topology)
            if e.HasField("conversation_started")
        ]
        drafts_per_partition = Counter[int]()
        for conversation_id in started_ids[:20]:
            drafts_per_partition[await draft_reply(js, topology, conversation_id)] += 1

        await eventually(lambda: relayed_at_least(js, topology, QUEUED, 20), timeout=30)
        typing_delivered = 0 if filters_several(js) else 1  # NATS 2.9: one filter, all taken
        for k in range(PARTITIONS):
            durable = SESSION_DRAFTS.in_partition(k, PARTITIONS).name
            info = await js.consumer_info(topology.stream(AI_EVENTS), durable)
            expected = drafts_per_partition[k] * (1 + typing_delivered)
            assert info.delivered.consumer_seq == expected, durable
            assert info.num_ack_pending == 0 and info.num_pending == 0

        await asyncio.sleep(0.5)  # anything recorded twice would be relayed by now
        events = await relayed(js, topology)
        stored = [record[0] for record in StoredRecords(second.app.recorder).after(0, 100_000)]

    # Nothing lost, nothing twice: every stored position relayed once, across the relays'
    # hand-over; each partition's in the store's order.
    received = [e for e in events if e.HasField(RECEIVED)]
    assert len(received) == 60
    assert sum(e.HasField(QUEUED) for e in events) == 20
    positions = [e.position for e in events]
    assert sorted(positions) == stored
    for k in range(PARTITIONS):
        in_order = [e.position for e in events if partition_of_event(e) == k]
        assert in_order and in_order == sorted(in_order), k
    # Each conversation carries its customer's slot: the AI responder's and outbound's facts
    # about it are published to the partition the customer's own go to.
    started = [e for e in events if e.HasField("conversation_started")]
    slots = {conversation_slot(e.aggregate_id) for e in started}
    assert len(started) == 60
    assert slots == {customer_slot("pn-7", wa_id) for wa_id in customers}
    wa_ids: dict[str, Any] = {
        e.aggregate_id: e.conversation_started.customer.wa_id for e in started
    }
    for conversation_id, wa_id in wa_ids.items():
        assert conversation_slot(conversation_id) == customer_slot("pn-7", wa_id)


def test_what_is_stored_wakes_the_relays_of_its_partitions_only() -> None:
    woken: list[int] = []

    class Relay:
        def __init__(self, partition: int) -> None:
            self.partition = partition

        def wake(self) -> None:
            woken.append(self.partition)

    duties = SessionDuties(
        js=cast(JetStreamContext, None),
        bus=cast(EventBus, None),
        topology=Topology(partitions=PARTITIONS),
        writer=cast(EventStoreWriter, None),
        make_relay=lambda partition: cast(OutboxRelay, Relay(partition)),
        auto_resolve_interval=60.0,
        batch_size=10,
    )
    duties.relays.update({k: duties.make_relay(k) for k in (1, 2)})  # held here

    duties.wake_relay({5, 9, 4095})  # partitions 1, 1 and 3
    assert woken == [1]
    duties.wake_relay(None)  # not known: every relay held here
    assert woken == [1, 1, 2]
