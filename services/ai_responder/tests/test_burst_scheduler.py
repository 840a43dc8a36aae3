"""Exactly one answer per burst, over a real NATS JetStream KeyValue bucket: restarts and two
responders share it."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from threadline.ai_responder.adapters.outbound.burst_store import KeyValueBurstStore
from threadline.ai_responder.application.bursts import BurstScheduler
from threadline.ai_responder.domain.burst import Burst
from threadline.testing import eventually

DELAY = timedelta(seconds=0.3)
MAX_WAIT = timedelta(seconds=1.2)
Covered = tuple[str, ...]


@dataclass
class Model:
    """The answering side: records every generation, what went out and what was dropped."""

    generated: list[Covered] = field(default_factory=list)
    delivered: list[tuple[str, Covered]] = field(default_factory=list)
    discarded: list[tuple[str, Covered]] = field(default_factory=list)
    seconds: float = 0.0  # how long a generation takes
    gate: asyncio.Event | None = None  # when set, generations wait for it
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def answer(self, burst: Burst) -> Covered:
        self.generated.append(burst.message_ids)
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(self.seconds)
        return burst.message_ids

    async def deliver(self, burst: Burst, covered: Covered) -> None:
        self.delivered.append((burst.conversation_id, covered))

    async def discard(self, burst: Burst, covered: Covered) -> None:
        self.discarded.append((burst.conversation_id, covered))


def scheduler(
    store: KeyValueBurstStore,
    model: Model,
    lease: timedelta = timedelta(seconds=30),
    *,
    heard_until: Callable[[], Awaitable[datetime]] | None = None,
) -> BurstScheduler[Covered]:
    return BurstScheduler(
        store,
        answer=model.answer,
        deliver=model.deliver,
        discard=model.discard,
        delay=DELAY,
        max_wait=MAX_WAIT,
        lease=lease,
        scan_seconds=0.05,
        heard_until=heard_until,
    )


@contextlib.asynccontextmanager
async def running(*schedulers: BurstScheduler[Covered]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(s.run()) for s in schedulers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def messages(n: int) -> Iterator[str]:
    return (f"wamid.{i}" for i in range(n))


async def test_three_messages_within_the_delay_get_one_answer_covering_all(
    store: KeyValueBurstStore,
) -> None:
    model = Model()
    responder = scheduler(store, model)
    async with running(responder):
        for message_id in messages(3):
            await responder.on_customer_message("conv-1", message_id)
            await asyncio.sleep(0.1)
        await eventually(lambda: len(model.delivered) == 1)
        await asyncio.sleep(0.5)  # nothing more comes

    assert model.delivered == [("conv-1", ("wamid.0", "wamid.1", "wamid.2"))]
    assert model.discarded == []


async def test_a_redelivered_message_is_not_answered_again(store: KeyValueBurstStore) -> None:
    model = Model()
    responder = scheduler(store, model)
    async with running(responder):
        await responder.on_customer_message("conv-1", "wamid.0")
        await eventually(lambda: len(model.delivered) == 1)
        await responder.on_customer_message("conv-1", "wamid.0")
        await asyncio.sleep(0.6)

    assert model.delivered == [("conv-1", ("wamid.0",))]


async def test_a_message_during_generation_discards_it_and_one_answer_covers_all(
    store: KeyValueBurstStore,
) -> None:
    model = Model(gate=asyncio.Event())
    responder = scheduler(store, model)
    async with running(responder):
        await responder.on_customer_message("conv-1", "wamid.0")
        await asyncio.wait_for(model.started.wait(), 5)
        await responder.on_customer_message("conv-1", "wamid.1")
        model.gate.set()  # type: ignore[union-attr]
        await eventually(lambda: len(model.delivered) == 1)
        await asyncio.sleep(0.5)

    assert model.discarded == [("conv-1", ("wamid.0",))]
    assert model.delivered == [("conv-1", ("wamid.0", "wamid.1"))]
    assert model.generated == [("wamid.0",), ("wamid.0", "wamid.1")]


async def test_a_responder_stopped_mid_wait_is_replaced_by_a_new_one(
    store: KeyValueBurstStore,
) -> None:
    model = Model()
    first = scheduler(store, model)
    async with running(first):
        await first.on_customer_message("conv-1", "wamid.0")
        await first.on_customer_message("conv-1", "wamid.1")
    assert model.generated == []  # stopped before the burst was due

    async with running(scheduler(store, model)):
        await eventually(lambda: len(model.delivered) == 1)
        await asyncio.sleep(0.5)

    assert model.delivered == [("conv-1", ("wamid.0", "wamid.1"))]


async def test_a_responder_stopped_mid_generation_gives_its_claim_up(
    store: KeyValueBurstStore,
) -> None:
    stuck = Model(gate=asyncio.Event())  # never opens
    first = scheduler(store, stuck)
    async with running(first):
        await first.on_customer_message("conv-1", "wamid.0")
        await asyncio.wait_for(stuck.started.wait(), 5)

    model = Model()
    async with running(scheduler(store, model)):  # the lease (30 s) is not waited for
        await eventually(lambda: len(model.delivered) == 1, timeout=5)

    assert model.delivered == [("conv-1", ("wamid.0",))]
    assert stuck.delivered == [] and stuck.discarded == []


async def test_a_stopped_responder_finishes_the_answers_under_way(
    store: KeyValueBurstStore,
) -> None:
    model = Model(seconds=0.5)
    responder = scheduler(store, model)
    task = asyncio.create_task(responder.run())
    await responder.on_customer_message("conv-1", "wamid.0")
    await eventually(lambda: len(model.generated) == 1)

    responder.stop()
    await asyncio.wait_for(task, 5)

    assert model.delivered == [("conv-1", ("wamid.0",))]


async def test_a_responder_that_died_mid_generation_is_replaced_after_the_lease(
    store: KeyValueBurstStore,
) -> None:
    lease = timedelta(seconds=1)
    dead = Model(gate=asyncio.Event())  # hangs: as if its process were gone
    first = scheduler(store, dead, lease)
    model = Model()
    task = asyncio.create_task(first.run())
    try:
        await first.on_customer_message("conv-1", "wamid.0")
        await asyncio.wait_for(dead.started.wait(), 5)
        async with running(scheduler(store, model, lease)):
            await eventually(lambda: len(model.delivered) == 1, timeout=5)
        dead.gate.set()  # type: ignore[union-attr]  # its late generation is stale
        await eventually(lambda: len(dead.discarded) == 1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert model.delivered == [("conv-1", ("wamid.0",))]
    assert dead.delivered == []


async def test_two_responders_answer_each_burst_exactly_once(
    store: KeyValueBurstStore,
) -> None:
    model = Model(seconds=0.05)
    responders = scheduler(store, model), scheduler(store, model)
    conversations = [f"conv-{n}" for n in range(30)]
    async with running(*responders):
        for round_ in range(3):  # each responder hears some messages of every conversation
            await asyncio.gather(
                *(
                    responders[(n + round_) % 2].on_customer_message(conv, f"{conv}.m{round_}")
                    for n, conv in enumerate(conversations)
                )
            )
            await asyncio.sleep(0.05)
        await eventually(lambda: len(model.delivered) >= len(conversations), timeout=15)
        await asyncio.sleep(1.0)  # time for a duplicate to show up

    answers = Counter(conv for conv, _ in model.delivered)
    assert answers == Counter(dict.fromkeys(conversations, 1))
    for conv, covered in model.delivered:
        assert covered == (f"{conv}.m0", f"{conv}.m1", f"{conv}.m2")


async def test_the_maximum_wait_caps_a_burst_that_never_pauses(
    store: KeyValueBurstStore,
) -> None:
    model = Model()
    responder = scheduler(store, model)
    started = datetime.now(UTC)
    async with running(responder):
        sent = 0
        while not model.delivered:  # a message every 0.15 s: the delay never runs out
            assert datetime.now(UTC) - started < MAX_WAIT + timedelta(seconds=2)
            await responder.on_customer_message("conv-1", f"wamid.{sent}")
            sent += 1
            await asyncio.sleep(0.15)
        answered_after = datetime.now(UTC) - started

    assert answered_after >= MAX_WAIT
    _, covered = model.delivered[0]
    assert covered == tuple(f"wamid.{n}" for n in range(len(covered)))
    assert len(covered) >= 6
