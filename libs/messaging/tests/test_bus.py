"""`JetStreamBus.publish_each` over a real NATS: the relay's pipelined publishing."""

from __future__ import annotations

import nats.errors
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import APIError, NoStreamResponseError

from threadline.messaging.bus import (
    InMemoryBus,
    JetStreamBus,
    MessageTooLarge,
    Outcome,
    Outgoing,
    PublishAck,
)
from threadline.messaging.topology import SESSION_EVENTS, Topology


def message(topology: Topology, n: int, **headers: str) -> Outgoing:
    subject = f"{topology.root(SESSION_EVENTS)}.Conversation.Started"
    return Outgoing(subject, f"event {n}".encode(), f"event-{n}", headers)


def acks(outcomes: list[Outcome]) -> list[int]:
    return [o.sequence for o in outcomes if isinstance(o, PublishAck)]


async def test_each_message_is_stored_in_order_and_each_outcome_said(
    js: JetStreamContext, topology: Topology
) -> None:
    bus = JetStreamBus(js)
    stream = topology.stream(SESSION_EVENTS)
    too_large = Outgoing(
        message(topology, 0).subject, b"x" * (bus.max_payload + 1), "event-huge", {}
    )
    batch = [message(topology, n) for n in range(1, 301)]
    outcomes = await bus.publish_each([*batch[:150], too_large, *batch[150:]])

    assert len(outcomes) == 301
    assert isinstance(outcomes[150], MessageTooLarge)  # refused before it was sent
    assert acks(outcomes) == list(range(1, 301))  # the rest stored, in the order given
    stored = [await js.get_msg(stream, seq) for seq in (1, 150, 151, 300)]
    assert [m.data for m in stored] == [b"event 1", b"event 150", b"event 151", b"event 300"]
    # The same ids again: deduplicated, said so, nothing stored twice.
    again = await bus.publish_each(batch[:3])
    assert all(isinstance(o, PublishAck) and o.duplicate for o in again)
    assert (await js.stream_info(stream)).state.messages == 300


async def test_a_refusal_is_the_outcome_of_its_message_alone(
    js: JetStreamContext, topology: Topology
) -> None:
    bus = JetStreamBus(js)
    first, second, third = (message(topology, n) for n in (1, 2, 3))
    # The second expects another message before it: the server refuses it (the relay's guard
    # of the stream's order); the third expects the first and is stored.
    wrong = Outgoing(
        second.subject, second.payload, second.msg_id, {"Nats-Expected-Last-Msg-Id": "x"}
    )
    expects_first = Outgoing(
        third.subject, third.payload, third.msg_id, {"Nats-Expected-Last-Msg-Id": "event-1"}
    )
    outcomes = await bus.publish_each([first, wrong, expects_first])

    assert isinstance(outcomes[0], PublishAck)
    assert isinstance(outcomes[1], APIError) and outcomes[1].err_code == 10070
    assert isinstance(outcomes[2], PublishAck) and outcomes[2].sequence == 2


async def test_an_unacknowledged_publish_times_out_and_frees_its_place(
    client: Nats, js: JetStreamContext, nats_namespace: str
) -> None:
    """A subject no stream takes, with a plain subscriber that never answers: no ack comes."""
    subject = f"{nats_namespace}.nobody.answers"

    async def ignore(_: Msg) -> None:
        return None

    await client.subscribe(subject, cb=ignore)
    bus = JetStreamBus(js, timeout=0.3)
    outcomes = await bus.publish_each([Outgoing(subject, b"lost", "lost-1", {})])

    assert isinstance(outcomes[0], nats.errors.TimeoutError)
    assert bus._ack_inbox().waiting == 0  # given up, not left waiting forever


async def test_a_subject_no_stream_takes_is_said_at_once(
    js: JetStreamContext, nats_namespace: str
) -> None:
    outcomes = await JetStreamBus(js).publish_each(
        [Outgoing(f"{nats_namespace}.no.stream", b"x", "x-1", {})]
    )
    assert isinstance(outcomes[0], NoStreamResponseError)


async def test_the_in_memory_bus_publishes_each_the_same_way() -> None:
    bus = InMemoryBus(max_payload=100)
    outcomes = await bus.publish_each(
        [
            Outgoing("a.b", b"one", "1", {}),
            Outgoing("a.b", b"x" * 200, "2", {}),
            Outgoing("a.b", b"one", "1", {}),
        ]
    )
    assert isinstance(outcomes[0], PublishAck) and not outcomes[0].duplicate
    assert isinstance(outcomes[1], MessageTooLarge)
    assert isinstance(outcomes[2], PublishAck) and outcomes[2].duplicate
    assert [p.payload for p in bus.published] == [b"one"]
