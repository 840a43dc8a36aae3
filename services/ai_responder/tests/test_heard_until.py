"""A burst waits until every message sent within it has been heard, whichever responder heard
it: the shared durable's progress (`DurableProgress`) read from a real NATS server, and the
burst scheduler held by it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from threadline.ai_responder.adapters.outbound.burst_store import KeyValueBurstStore
from threadline.ai_responder.adapters.outbound.progress import BEGINNING, DurableProgress
from threadline.ai_responder.application.bursts import BurstScheduler, NotReady
from threadline.ai_responder.domain.burst import Burst
from threadline.testing import eventually
from threadline.testing.clock import FakeClock

from .test_burst_scheduler import DELAY, MAX_WAIT, Covered, Model, running, scheduler

DURABLE = "responders"
CONVERSATION = "conv-1"


@pytest.fixture
async def events(js: JetStreamContext, nats_namespace: str) -> tuple[str, str]:
    """A stream of conversation events and the responders' durable on it: (stream, subject)."""
    stream = f"{nats_namespace}_EVENTS"
    await js.add_stream(name=stream, subjects=[f"{nats_namespace}.conversation.>"])
    await js.add_consumer(
        stream, ConsumerConfig(durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, ack_wait=60)
    )
    return stream, f"{nats_namespace}.conversation.CustomerMessageReceived"


def stored_at(message: Msg) -> datetime:
    return message.metadata.timestamp


def close_to(a: datetime, b: datetime) -> bool:
    """The same moment as two parts of the server report it (one with nanoseconds cut to
    microseconds, one through a float)."""
    return abs(a - b) < timedelta(milliseconds=1)


async def delivered(js: JetStreamContext, stream: str, n: int) -> list[Msg]:
    """`n` events fetched by one responder and not yet acknowledged."""
    subscription = await js.pull_subscribe_bind(DURABLE, stream)
    messages: list[Msg] = []
    while len(messages) < n:
        messages += await subscription.fetch(n - len(messages), timeout=5)
    return messages


# The durable's progress, read from the server.


async def test_with_nothing_waiting_everything_up_to_now_is_heard(
    js: JetStreamContext, events: tuple[str, str]
) -> None:
    stream, subject = events
    clock = FakeClock(datetime.now(UTC))
    progress = DurableProgress(js, stream, DURABLE, clock=clock, refresh=timedelta(0))
    assert await progress.heard_until() == clock.now

    await js.publish(subject, b"wamid.0")
    [message] = await delivered(js, stream, 1)
    await message.ack_sync()
    clock.advance(timedelta(seconds=1))
    assert await progress.heard_until() == clock.now


async def test_a_durable_not_made_yet_waits_for_nothing(
    js: JetStreamContext, events: tuple[str, str]
) -> None:
    stream, _ = events
    clock = FakeClock(datetime.now(UTC))
    progress = DurableProgress(js, stream, "not-made-yet", clock=clock, refresh=timedelta(0))
    assert await progress.heard_until() == clock.now


async def test_heard_until_the_last_event_before_which_all_are_acknowledged(
    js: JetStreamContext, events: tuple[str, str]
) -> None:
    stream, subject = events
    clock = FakeClock(datetime.now(UTC))
    progress = DurableProgress(js, stream, DURABLE, clock=clock, refresh=timedelta(0))
    for n in range(3):
        await js.publish(subject, f"wamid.{n}".encode())
    first, second, third = await delivered(js, stream, 3)

    assert await progress.heard_until() == BEGINNING  # nothing acknowledged yet
    await second.ack_sync()  # heard out of order: the first still is not
    assert await progress.heard_until() == BEGINNING
    await first.ack_sync()
    assert close_to(await progress.heard_until(), stored_at(second))
    await third.ack_sync()
    assert await progress.heard_until() == clock.now


async def test_after_this_process_acknowledged_events_the_next_reading_is_fresh(
    js: JetStreamContext, events: tuple[str, str]
) -> None:
    stream, subject = events
    clock = FakeClock(datetime.now(UTC))
    progress = DurableProgress(js, stream, DURABLE, clock=clock, refresh=timedelta(hours=1))
    await js.publish(subject, b"wamid.0")
    [message] = await delivered(js, stream, 1)
    assert await progress.heard_until() == BEGINNING
    await message.ack_sync()

    assert await progress.heard_until() == BEGINNING  # the reading of an hour's refresh
    progress.acknowledged()
    assert await progress.heard_until() == clock.now
    assert await progress.heard_until() == clock.now  # kept again: one read for the news


@dataclass
class Held:
    """A durable that acknowledged the first of two events and holds the second."""

    progress: DurableProgress
    clock: FakeClock
    first: Msg
    second: Msg


async def one_heard_one_held(js: JetStreamContext, stream: str, subject: str) -> Held:
    clock = FakeClock(datetime.now(UTC))
    progress = DurableProgress(
        js, stream, DURABLE, clock=clock, refresh=timedelta(0), stuck_after=timedelta(seconds=5)
    )
    await js.publish(subject, b"wamid.0")
    await js.publish(subject, b"wamid.1")
    first, second = await delivered(js, stream, 2)
    await first.ack_sync()
    return Held(progress, clock, first, second)


async def test_a_floor_that_does_not_move_while_watched_stops_holding_anyone(
    js: JetStreamContext, events: tuple[str, str]
) -> None:
    stream, subject = events
    held = await one_heard_one_held(js, stream, subject)

    for _ in range(6):  # watched closely: 4.5 s without moving is not stuck yet
        assert close_to(await held.progress.heard_until(), stored_at(held.first))
        held.clock.advance(timedelta(seconds=0.9))
    assert await held.progress.heard_until() == held.clock.now  # 5.4 s: stuck, nobody is held

    await held.second.ack_sync()  # it moves again, and a new event waits: held again
    await js.publish(subject, b"wamid.2")
    await delivered(js, stream, 1)
    held.clock.advance(timedelta(seconds=0.5))
    assert close_to(await held.progress.heard_until(), stored_at(held.second))


async def test_a_floor_not_watched_for_a_while_is_not_taken_for_stuck(
    js: JetStreamContext, events: tuple[str, str]
) -> None:
    stream, subject = events
    held = await one_heard_one_held(js, stream, subject)

    assert close_to(await held.progress.heard_until(), stored_at(held.first))
    held.clock.advance(timedelta(minutes=10))  # nobody asked meanwhile
    assert close_to(await held.progress.heard_until(), stored_at(held.first))


# The burst scheduler held by it.


async def hear(responder: BurstScheduler[Covered], message: Msg) -> None:
    """What a responder's consumer does with a customer message: into its burst, then ack."""
    await responder.on_customer_message(CONVERSATION, message.data.decode(), at=stored_at(message))
    await message.ack_sync()


async def test_a_burst_two_responders_hear_apart_gets_one_answer_covering_both(
    js: JetStreamContext, events: tuple[str, str], store: KeyValueBurstStore
) -> None:
    stream, subject = events
    model = Model()
    responder = scheduler(
        store, model, heard_until=DurableProgress(js, stream, DURABLE).heard_until
    )
    await js.publish(subject, b"wamid.0")
    await asyncio.sleep(0.05)  # the customer's second message, well within the wait
    await js.publish(subject, b"wamid.1")
    [first] = await delivered(js, stream, 1)  # one responder takes the first,
    [second] = await delivered(js, stream, 1)  # another the second, behind its backlog

    async with running(responder):
        await hear(responder, first)
        await asyncio.sleep(3 * DELAY.total_seconds())  # the second waits in a backlog
        assert model.generated == []  # the burst waits for it, though its wait is over
        await hear(responder, second)
        await eventually(lambda: len(model.delivered) == 1)
        await asyncio.sleep(0.5)  # nothing more comes

    assert model.generated == [("wamid.0", "wamid.1")]
    assert model.delivered == [(CONVERSATION, ("wamid.0", "wamid.1"))]
    assert model.discarded == []


async def test_a_burst_held_behind_a_stuck_event_is_answered_after_all(
    js: JetStreamContext, events: tuple[str, str], store: KeyValueBurstStore
) -> None:
    stream, subject = events
    model = Model()
    progress = DurableProgress(js, stream, DURABLE, stuck_after=timedelta(seconds=0.5))
    responder = scheduler(store, model, heard_until=progress.heard_until)
    await js.publish(subject, b"another conversation's event")
    await js.publish(subject, b"wamid.0")
    _stuck, message = await delivered(js, stream, 2)  # the first is never acknowledged

    async with running(responder):
        await hear(responder, message)
        await eventually(lambda: len(model.delivered) == 1, timeout=5)

    assert model.delivered == [(CONVERSATION, ("wamid.0",))]


async def test_a_burst_tried_again_is_not_held_again_for_its_own_retry(
    store: KeyValueBurstStore,
) -> None:
    """The wait is for the burst's due moment to be heard, not for the moment of a retry: a
    burst whose answer was not ready is looked at again when asked, however far behind the
    responders' hearing runs (here always 3 s)."""
    attempts: list[float] = []

    async def answer(burst: Burst) -> Covered:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) == 1:
            raise NotReady("its voice note is being transcribed", seconds=0.1)
        return burst.message_ids

    async def three_seconds_behind() -> datetime:
        return datetime.now(UTC) - timedelta(seconds=3)

    model = Model()
    responder = BurstScheduler(
        store,
        answer=answer,
        deliver=model.deliver,
        discard=model.discard,
        delay=DELAY,
        max_wait=MAX_WAIT,
        scan_seconds=30,
        heard_until=three_seconds_behind,
    )
    async with running(responder):
        await responder.on_customer_message(CONVERSATION, "wamid.0", at=datetime.now(UTC))
        await eventually(lambda: len(model.delivered) == 1, timeout=15)

    assert attempts[1] - attempts[0] < 1.5  # not another 3 s behind the retry's moment
    assert model.delivered == [(CONVERSATION, ("wamid.0",))]


async def test_a_burst_waiting_to_be_heard_is_answered_once_its_message_is_acknowledged_here(
    js: JetStreamContext, events: tuple[str, str], store: KeyValueBurstStore
) -> None:
    """Not at the next poll or refresh (an hour each here): the consumer's word that it
    acknowledged a batch has the durable's progress read again and the burst looked at."""
    stream, subject = events
    model = Model()
    progress = DurableProgress(js, stream, DURABLE, refresh=timedelta(hours=1))
    responder = BurstScheduler(
        store,
        answer=model.answer,
        deliver=model.deliver,
        discard=model.discard,
        delay=timedelta(0),
        max_wait=MAX_WAIT,
        scan_seconds=3600,
        heard_until=progress.heard_until,
        waiting_poll=3600,
    )
    await js.publish(subject, b"wamid.0")
    [message] = await delivered(js, stream, 1)

    async with running(responder):
        await responder.on_customer_message(
            CONVERSATION, message.data.decode(), at=stored_at(message)
        )
        await asyncio.sleep(0.3)
        assert model.generated == []  # heard by nobody yet
        await message.ack_sync()
        await asyncio.sleep(0.3)
        assert model.generated == []  # acknowledged, but nobody said so: the poll is an hour
        progress.acknowledged()
        responder.acknowledged()
        await eventually(lambda: len(model.delivered) == 1, timeout=10)

    assert model.delivered == [(CONVERSATION, ("wamid.0",))]
