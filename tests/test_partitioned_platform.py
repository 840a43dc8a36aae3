"""The whole platform with the session's facts and events in four partitions (issue 15, item
2), on real NATS and PostgreSQL: customers in every partition each get their reply, delivered
and read, and the read models show every conversation whole — though each partition's relay
publishes on its own, so the partitions' events reach SESSION_EVENTS interleaved and not in
the store's order."""

from __future__ import annotations

import asyncio

import nats
import pytest

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_end_to_end import conversation_of, customer_number, customer_writes
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.topology import SESSION_EVENTS, Topology
from threadline.rules.partitions import conversation_slot, customer_slot
from threadline.testing import eventually

PARTITIONS = 4


@pytest.fixture
def platform_env() -> dict[str, str]:
    return {"THREADLINE_SESSION_PARTITIONS": str(PARTITIONS)}


def customers_in_every_partition(per_partition: int) -> list[str]:
    found: dict[int, list[str]] = {k: [] for k in range(PARTITIONS)}
    while any(len(numbers) < per_partition for numbers in found.values()):
        wa_id = customer_number()
        numbers = found[customer_slot(PHONE_NUMBER_ID, wa_id) % PARTITIONS]
        if len(numbers) < per_partition:
            numbers.append(wa_id)
    return [wa_id for numbers in found.values() for wa_id in numbers]


async def test_customers_of_every_partition_are_answered_and_projected(
    platform: Platform, nats_server_url: str, nats_namespace: str
) -> None:
    customers = customers_in_every_partition(5)

    await asyncio.gather(*(customer_writes(platform, wa_id, "Hi there") for wa_id in customers))

    def every_reply_sent() -> bool:
        return all(len(platform.sandbox.outbox.messages(to=w)) == 1 for w in customers)

    await eventually(every_reply_sent, timeout=20)

    async def every_reply_read() -> bool:
        for wa_id in customers:
            found = await conversation_of(platform, wa_id)
            if [m.status for m in found.messages] != ["received", "read"]:
                return False
        return True

    await eventually(every_reply_read, timeout=30)
    for wa_id in customers:
        found = await conversation_of(platform, wa_id)
        assert found.conversation.message_count == 2
        assert [m.author for m in found.messages] == ["customer", "ai"]

    # Each partition's relay published its own events, on subjects naming the partition, in
    # the store's order within the partition.
    topology = Topology(nats_namespace, partitions=PARTITIONS)
    client = await nats.connect(nats_server_url)
    try:
        js = client.jetstream()
        stream = topology.stream(SESSION_EVENTS)
        last = (await js.stream_info(stream)).state.last_seq
        by_partition: dict[int, list[int]] = {k: [] for k in range(PARTITIONS)}
        for seq in range(1, last + 1):
            message = await js.get_msg(stream, seq)
            event = SessionEvent.FromString(message.data)
            partition = conversation_slot(event.aggregate_id) % PARTITIONS
            root = topology.root(SESSION_EVENTS)
            assert message.subject == f"{root}.{partition}.{event.event_type}"
            by_partition[partition].append(event.position)
    finally:
        await client.close()
    for positions in by_partition.values():
        assert positions and positions == sorted(positions)
        assert len(set(positions)) == len(positions)
