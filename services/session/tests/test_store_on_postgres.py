"""The event store on real PostgreSQL: concurrent writers, snapshots, idempotent facts."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest

from threadline.session.application.contacts import find_contact
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import DraftedReply, InboundMessage
from threadline.session.application.outcomes import APPLIED, NotYet, Outcome
from threadline.session.application.unit_of_work import UnitOfWork
from threadline.testing.clock import FakeClock

InboundFactory = Callable[..., InboundMessage]


AppFactory = Callable[..., Conversations]


@pytest.fixture
def two_writers(postgres_app: AppFactory, clock: FakeClock) -> tuple[Conversations, ...]:
    # More than one writer: each cache must ask the store for newer events.
    return (postgres_app(clock, fastforward=True), postgres_app(clock, fastforward=True))


def record(app: Conversations, fact: InboundMessage) -> list[Outcome]:
    """As the consumer does: a fact that met only conflicts is delivered again."""
    outcomes = app.record_facts([fact])
    for _ in range(5):
        if not isinstance(outcomes[0], NotYet):
            break
        outcomes = app.record_facts([fact])
    return outcomes


def test_concurrent_first_messages_from_two_writers_open_one_conversation(
    two_writers: tuple[Conversations, Conversations], inbound: InboundFactory
) -> None:
    first, second = two_writers
    messages = [inbound(wa_id="15556001") for _ in range(16)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(
            pool.map(
                lambda pair: record(*pair),
                [(first if i % 2 else second, m) for i, m in enumerate(messages)],
            )
        )

    contact = find_contact(UnitOfWork(first.repository), "pn-1", "15556001", "")
    assert contact is not None and len(contact.conversation_ids) == 1
    conversation = first.find_conversation(contact.conversation_ids[0])
    assert all(o == [APPLIED] for o in outcomes)
    assert all(conversation.knows(m.wamid) for m in messages)


def test_a_redelivered_batch_stores_nothing_the_second_time(
    postgres_app: AppFactory, clock: FakeClock, inbound: InboundFactory
) -> None:
    app = postgres_app(clock)
    batch = [inbound(wa_id=f"1555600{i}") for i in range(5)]
    app.record_facts(batch)
    stored = app.recorder.max_notification_id()

    app.record_facts(batch)

    assert app.recorder.max_notification_id() == stored


def test_a_long_conversation_loads_from_its_snapshot(
    postgres_app: AppFactory, clock: FakeClock, inbound: InboundFactory
) -> None:
    app = postgres_app(clock)
    app.record_facts([inbound(wa_id="15556100")])
    contact = find_contact(UnitOfWork(app.repository), "pn-1", "15556100", "")
    assert contact is not None and contact.open_conversation_id is not None
    conversation_id = contact.open_conversation_id
    for start in range(0, 10_000, 500):
        app.record_facts(
            [
                DraftedReply(
                    draft_id=uuid4().hex,
                    conversation_id=conversation_id,
                    in_reply_to_message_id="",
                    content={"type": "text", "text": f"reply {n}"},
                )
                for n in range(start, start + 500)
            ]
        )
    cold = postgres_app(clock)  # no cache: loads from the database

    started = time.perf_counter()
    conversation = cold.find_conversation(conversation_id)
    seconds = time.perf_counter() - started

    snapshots = list(cold.snapshots.get(conversation_id)) if cold.snapshots else []
    assert conversation.version == 10_002
    assert snapshots and snapshots[-1].originator_version >= 10_000 - 200
    # Not a speed target (that is `make bench`): evidence that it did not replay 10,000 events.
    print(f"loaded a 10,002-event conversation in {seconds * 1000:.1f} ms")
