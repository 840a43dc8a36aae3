"""The consumer loop over real NATS JetStream: one message stops nothing but itself."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg
import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RawStreamMsg

from threadline.messaging.bus import JetStreamBus, MessageTooLarge, SubjectTooLong
from threadline.messaging.consumer import (
    ACK,
    BatchHandler,
    ConsumerLoop,
    ConsumerSettings,
    DeadLetter,
    Delivery,
    Retry,
    Settlement,
    filters_several,
    one_at_a_time,
)
from threadline.messaging.dead_letters import (
    HEAD_BYTES,
    ORIGINAL_SHA256,
    ORIGINAL_SIZE,
    REASON,
    TRUNCATED,
)
from threadline.messaging.failures import Backoff
from threadline.messaging.topology import INGEST_EVENTS, Topology
from threadline.testing import eventually, unique_id

DeadLetters = Callable[[], Awaitable[list[RawStreamMsg]]]
DeadLettered = Callable[[int], Awaitable[list[RawStreamMsg]]]
DURABLE = "loop-under-test"


@dataclass
class Recorder:
    """A batch handler with a rule per payload; remembers what it committed, and how often
    it was called with what."""

    rule: Callable[[Sequence[Delivery]], Awaitable[Sequence[Settlement]] | Sequence[Settlement]]
    committed: list[bytes] = field(default_factory=list)
    calls: list[list[bytes]] = field(default_factory=list)
    deliveries: dict[bytes, list[int]] = field(default_factory=dict)

    async def __call__(self, batch: Sequence[Delivery]) -> Sequence[Settlement]:
        self.calls.append([d.data for d in batch])
        for delivery in batch:
            self.deliveries.setdefault(delivery.data, []).append(delivery.num_delivered)
        result = self.rule(batch)
        outcomes = await result if isinstance(result, Awaitable) else result
        if len(outcomes) == len(batch):  # else the loop disregards them all
            self.committed += [d.data for d, o in zip(batch, outcomes, strict=True) if o is ACK]
        return outcomes


def settings(topology: Topology, **overrides: object) -> ConsumerSettings:
    values: dict[str, object] = {
        "stream": topology.stream(INGEST_EVENTS),
        "durable": DURABLE,
        "filter_subject": topology.subject("ingest.events.>"),
        "batch_size": 50,
        "max_deliver": 3,
        "backoff": (0.05, 0.05, 0.05),
        "fetch_timeout": 0.5,
        "wait": Backoff(first=0.01, limit=0.05),
    }
    values.update(overrides)
    return ConsumerSettings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def running(
    js: JetStreamContext,
    topology: Topology,
    handler: BatchHandler,
    *,
    settled: Callable[[], None] | None = None,
    **overrides: object,
) -> AsyncIterator[ConsumerLoop]:
    loop = ConsumerLoop(
        js=js,
        dead_letters=JetStreamBus(js),
        topology=topology,
        service="tester",
        settings=settings(topology, **overrides),
        handler=handler,
        settled=settled,
    )
    task = asyncio.create_task(loop.run())
    try:
        yield loop
    finally:
        loop.stop()
        await asyncio.wait_for(task, 10)


async def publish(js: JetStreamContext, topology: Topology, *payloads: bytes) -> None:
    bus = JetStreamBus(js)
    for payload in payloads:
        subject = topology.subject("ingest.events", "pn", "Fact")
        await bus.publish(subject, payload, msg_id=hashlib.sha256(payload).hexdigest())


def fails_with_poison(batch: Sequence[Delivery]) -> Sequence[Settlement]:
    if any(d.data == b"poison" for d in batch):
        raise ValueError("cannot handle poison")
    return [ACK] * len(batch)


async def test_a_handler_raising_for_a_whole_batch_dead_letters_only_the_poison(
    js: JetStreamContext, topology: Topology, dead_letters: DeadLetters, dead_lettered: DeadLettered
) -> None:
    await publish(js, topology, b"m1", b"poison", b"m2")
    handler = Recorder(fails_with_poison)

    async with running(js, topology, handler):
        await eventually(lambda: sorted(handler.committed) == [b"m1", b"m2"])
        await publish(js, topology, b"m3")
        await eventually(lambda: b"m3" in handler.committed)
        dead = await dead_letters()

    assert [d.data for d in dead] == [b"poison"]
    assert dead[0].subject == topology.subject("dlq.tester.poison")
    assert "ValueError: cannot handle poison" in (dead[0].headers or {})[REASON]
    assert sorted(handler.committed) == [b"m1", b"m2", b"m3"]  # each once


async def test_a_handler_answering_for_fewer_messages_than_it_got_handles_each_alone(
    js: JetStreamContext, topology: Topology, dead_letters: DeadLetters, dead_lettered: DeadLettered
) -> None:
    await publish(js, topology, b"a", b"b", b"c")
    handler = Recorder(lambda batch: [ACK])  # one outcome, whatever the batch

    async with running(js, topology, handler):
        await eventually(lambda: sorted(handler.committed) == [b"a", b"b", b"c"])
        await publish(js, topology, b"d")
        await eventually(lambda: b"d" in handler.committed)

    assert await dead_letters() == []


async def test_an_unavailable_database_is_waited_out_without_retries_or_dead_letters(
    js: JetStreamContext, topology: Topology, dead_letters: DeadLetters, dead_lettered: DeadLettered
) -> None:
    outages = iter(range(4))

    def database_away_at_first(batch: Sequence[Delivery]) -> Sequence[Settlement]:
        if next(outages, None) is not None:
            raise psycopg.OperationalError("connection refused")
        return [ACK] * len(batch)

    await publish(js, topology, b"x", b"y")
    handler = Recorder(database_away_at_first)

    async with running(js, topology, handler):
        await eventually(lambda: sorted(handler.committed) == [b"x", b"y"])
        await publish(js, topology, b"z")
        await eventually(lambda: b"z" in handler.committed)

    assert await dead_letters() == []
    # Handled again in the same delivery: waiting does not count towards max_deliver.
    assert set(handler.deliveries[b"x"]) == {1}
    assert len(handler.deliveries[b"x"]) >= 5


async def test_a_message_that_keeps_failing_transiently_is_dead_lettered_after_max_deliver(
    js: JetStreamContext, topology: Topology, dead_letters: DeadLetters, dead_lettered: DeadLettered
) -> None:
    async def slow_one(delivery: Delivery) -> Settlement:
        if delivery.data == b"slow":
            raise TimeoutError("statement timeout")
        return ACK

    await publish(js, topology, b"slow", b"quick")
    handler = Recorder(one_at_a_time(slow_one))

    async with running(js, topology, handler, max_deliver=3):
        await eventually(lambda: b"quick" in handler.committed)
        dead = await dead_lettered(1)
        await publish(js, topology, b"after")
        await eventually(lambda: b"after" in handler.committed)

    assert dead[0].subject == topology.subject("dlq.tester.max_deliver")
    assert handler.deliveries[b"slow"] == [1, 2, 3]


async def test_a_permanent_error_raised_for_one_message_dead_letters_it_at_once(
    js: JetStreamContext, topology: Topology, dead_letters: DeadLetters, dead_lettered: DeadLettered
) -> None:
    async def strict(delivery: Delivery) -> Settlement:
        if delivery.data == b"bad":
            raise psycopg.errors.ProgramLimitExceeded("index row size 3016 exceeds maximum 2704")
        return ACK

    await publish(js, topology, b"bad", b"good")
    handler = Recorder(one_at_a_time(strict))

    async with running(js, topology, handler):
        await eventually(lambda: b"good" in handler.committed)
        dead = await dead_lettered(1)

    assert handler.deliveries[b"bad"] == [1]
    assert "ProgramLimitExceeded" in (dead[0].headers or {})[REASON]


async def test_a_message_never_settled_is_dead_lettered_without_being_handled_again(
    js: JetStreamContext, topology: Topology, dead_letters: DeadLetters, dead_lettered: DeadLettered
) -> None:
    await publish(js, topology, b"crasher")
    stream = topology.stream(INGEST_EVENTS)
    config = ConsumerConfig(
        durable_name=DURABLE,
        ack_policy=AckPolicy.EXPLICIT,
        filter_subject=topology.subject("ingest.events.>"),
    )
    await js.add_consumer(stream, config)
    # Each delivery of "crasher" ends without an ack, as when it kills the process.
    puller = await js.pull_subscribe_bind(durable=DURABLE, stream=stream)
    for _ in range(5):
        for message in await puller.fetch(1, timeout=2):
            assert message.data == b"crasher"
            await message.nak()
    await puller.unsubscribe()
    await publish(js, topology, b"fine")
    handler = Recorder(lambda batch: [ACK] * len(batch))

    async with running(js, topology, handler, unsettled_limit=4):
        await eventually(lambda: b"fine" in handler.committed)
        dead = await dead_lettered(1)

    assert b"crasher" not in handler.deliveries
    assert dead[0].subject == topology.subject("dlq.tester.unsettled")
    assert "without being settled" in (dead[0].headers or {})[REASON]


async def test_a_dead_letter_too_large_to_publish_whole_is_cut_to_fit_with_its_digest(
    js: JetStreamContext, topology: Topology, dead_letters: DeadLetters, dead_lettered: DeadLettered
) -> None:
    limit = JetStreamBus(js).max_payload
    huge = bytes(range(256)) * ((limit - 600) // 256)  # fits the stream; not with dlq headers
    reason = "refused\r\nInjected: header " + "r" * 5000

    def refuse_huge(batch: Sequence[Delivery]) -> Sequence[Settlement]:
        return [DeadLetter(reason, "too big") if d.data == huge else ACK for d in batch]

    await publish(js, topology, huge)
    handler = Recorder(refuse_huge)

    async with running(js, topology, handler):
        dead = await dead_lettered(1)
        await publish(js, topology, b"next")
        await eventually(lambda: b"next" in handler.committed)

    headers = {k: str(v) for k, v in (dead[0].headers or {}).items()}
    assert dead[0].subject == topology.subject("dlq.tester.too_big")
    assert dead[0].data == huge[:HEAD_BYTES]
    assert headers[TRUNCATED] == "true"
    assert headers[ORIGINAL_SIZE] == str(len(huge))
    assert headers[ORIGINAL_SHA256] == hashlib.sha256(huge).hexdigest()
    assert "\r" not in headers[REASON] and "\n" not in headers[REASON]
    assert headers[REASON].startswith("refused Injected: header rrr")
    assert "Injected" not in headers


async def test_a_consumer_made_with_a_delivery_limit_leaves_the_decision_to_the_loop(
    js: JetStreamContext, topology: Topology, dead_letters: DeadLetters, dead_lettered: DeadLettered
) -> None:
    stream = topology.stream(INGEST_EVENTS)
    await js.add_consumer(
        stream,
        ConsumerConfig(
            durable_name=DURABLE,
            ack_policy=AckPolicy.EXPLICIT,
            filter_subject=topology.subject("ingest.events.>"),
            max_deliver=6,
        ),
    )
    handler = Recorder(lambda batch: [ACK] * len(batch))

    async with running(js, topology, handler):
        await publish(js, topology, b"one")
        await eventually(lambda: b"one" in handler.committed)
        info = await js.consumer_info(stream, DURABLE)

    assert info.config.max_deliver == -1


async def test_a_deleted_consumer_is_made_again_and_consumption_goes_on(
    js: JetStreamContext, topology: Topology, dead_letters: DeadLetters, dead_lettered: DeadLettered
) -> None:
    handler = Recorder(lambda batch: [ACK] * len(batch))

    async with running(js, topology, handler, check_interval=0.2):
        await publish(js, topology, b"before")
        await eventually(lambda: b"before" in handler.committed)
        await js.delete_consumer(topology.stream(INGEST_EVENTS), DURABLE)
        await publish(js, topology, b"after")
        await eventually(lambda: b"after" in handler.committed, timeout=20)


async def test_retry_outcomes_come_back_until_max_deliver(
    js: JetStreamContext, topology: Topology, dead_letters: DeadLetters, dead_lettered: DeadLettered
) -> None:
    def not_yet(batch: Sequence[Delivery]) -> Sequence[Settlement]:
        return [Retry("not yet") if d.data == b"later" else ACK for d in batch]

    await publish(js, topology, b"later")
    handler = Recorder(not_yet)

    async with running(js, topology, handler, max_deliver=2):
        dead = await dead_lettered(1)

    assert handler.deliveries[b"later"] == [1, 2]
    assert (dead[0].headers or {})[REASON] == "not yet"


async def test_a_publish_the_server_would_drop_the_connection_for_is_refused_before_sending(
    js: JetStreamContext, topology: Topology
) -> None:
    """A subject longer than the server's control line, or a payload whose headers take it
    past max_payload, makes the server close the connection (every publish in flight fails):
    the bus refuses both with a permanent error and the connection stays up."""
    bus = JetStreamBus(js)
    limit = bus.max_payload

    with pytest.raises(SubjectTooLong):
        await bus.publish(topology.subject("ingest.raw", "p" * 5000), b"x", msg_id="long")
    with pytest.raises(MessageTooLarge):
        await bus.publish(
            topology.subject("ingest.raw", "pn"),
            b"x" * (limit - 10),
            msg_id="near-the-limit",
            headers={"Threadline-Note": "n" * 100},
        )
    ack = await bus.publish(topology.subject("ingest.raw", "pn"), b"fine", msg_id="fine")

    assert ack.sequence == 1 and js._nc.is_connected


async def test_a_consumer_narrowed_to_some_subjects_receives_only_those_where_the_server_can(
    js: JetStreamContext, topology: Topology
) -> None:
    """`only` binds the durable to the subjects named (NATS 2.10+); on an older server it
    takes all of its filter. A durable made broad before is narrowed in place (an upgrade)."""
    bus = JetStreamBus(js)

    async def publish_on(*names: str) -> None:
        for name in names:
            subject = topology.subject("ingest.events", "pn", name)
            await bus.publish(subject, name.encode(), msg_id=f"{name}-{unique_id()}")

    broad = Recorder(lambda batch: [ACK] * len(batch))
    async with running(js, topology, one_at_a_time(_acked(broad))):
        await publish_on("Before")
        await eventually(lambda: broad.committed == [b"Before"])

    narrowed = Recorder(lambda batch: [ACK] * len(batch))
    only = (
        topology.subject("ingest.events", "pn", "Wanted"),
        topology.subject("ingest.events.x.>"),
    )
    # The server's own word on its version, not `filters_several`'s reading of it.
    major, minor = (int(part) for part in js._nc._server_info["version"].split(".")[:2])
    several = (major, minor) >= (2, 10)
    assert filters_several(js) is several
    async with running(js, topology, one_at_a_time(_acked(narrowed)), only=only):
        await publish_on("Wanted", "Unwanted", "Wanted")
        expected = [b"Wanted", b"Wanted"] if several else [b"Wanted", b"Unwanted", b"Wanted"]
        await eventually(lambda: narrowed.committed == expected)
        await asyncio.sleep(0.3)  # nothing else comes
        assert narrowed.committed == expected
        info = await js.consumer_info(topology.stream(INGEST_EVENTS), DURABLE)
        if several:
            assert sorted(info.config.filter_subjects or []) == sorted(only)
        else:
            assert info.config.filter_subject == topology.subject("ingest.events.>")


def _acked(recorder: Recorder) -> Callable[[Delivery], Awaitable[Settlement]]:
    async def handle(delivery: Delivery) -> Settlement:
        (outcome,) = await recorder([delivery])
        return outcome

    return handle


async def test_a_delivery_says_when_the_stream_stored_it(
    js: JetStreamContext, topology: Topology, dead_letters: DeadLetters, dead_lettered: DeadLettered
) -> None:
    seen: list[Delivery] = []

    def keep(batch: Sequence[Delivery]) -> Sequence[Settlement]:
        seen.extend(batch)
        return [ACK] * len(batch)

    await publish(js, topology, b"when")
    stored = await js.get_last_msg(
        topology.stream(INGEST_EVENTS), topology.subject("ingest.events.>")
    )
    async with running(js, topology, Recorder(keep)):
        await eventually(lambda: bool(seen))

    assert stored.time is not None and seen[0].stored_at is not None
    assert abs(seen[0].stored_at - stored.time) < timedelta(milliseconds=1)


async def test_whoever_follows_the_durable_hears_of_each_batch_once_it_is_settled(
    js: JetStreamContext, topology: Topology
) -> None:
    handler = Recorder(lambda batch: [ACK] * len(batch))
    told: list[int] = []  # how many messages were committed when told
    await publish(js, topology, b"m1", b"m2")

    async with running(js, topology, handler, settled=lambda: told.append(len(handler.committed))):
        await eventually(lambda: len(handler.committed) == 2)
        await publish(js, topology, b"m3")
        await eventually(lambda: len(handler.committed) == 3)
        await eventually(lambda: len(told) == len(handler.calls))

    assert told == [sum(len(c) for c in handler.calls[: n + 1]) for n in range(len(told))]
    info = await js.consumer_info(topology.stream(INGEST_EVENTS), DURABLE)
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_a_follower_that_raises_when_told_stops_nothing(
    js: JetStreamContext, topology: Topology, caplog: pytest.LogCaptureFixture
) -> None:
    handler = Recorder(lambda batch: [ACK] * len(batch))

    def broken() -> None:
        raise RuntimeError("a follower's bug")

    await publish(js, topology, b"m1")
    async with running(js, topology, handler, settled=broken):
        await eventually(lambda: len(handler.committed) == 1)
        await publish(js, topology, b"m2")
        await eventually(lambda: len(handler.committed) == 2)

    assert handler.committed == [b"m1", b"m2"]
    assert [len(call) for call in handler.calls] == [1, 1]  # neither came back
    said = [r.getMessage() for r in caplog.records]
    assert sum("settled failed" in m for m in said) == 2
    assert not [m for m in said if "failed (" in m]  # no fetch paused, nothing subscribed again
