"""The event store on real PostgreSQL: concurrent writers, snapshots, idempotent facts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import AggregateRecorder, InfrastructureFactory
from eventsourcing.utils import Environment

from threadline.rules.partitions import conversation_slot
from threadline.session.adapters.outbound.event_store import (
    ArrayInsertRecorder,
    SessionStoreFactory,
    SnapshotRecorder,
)
from threadline.session.adapters.outbound.stored_records import StoredRecords
from threadline.session.application.contacts import find_contact
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import DispatchReport, DraftedReply, InboundMessage
from threadline.session.application.outcomes import APPLIED, NotYet, Outcome
from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.config import SessionConfig
from threadline.session.domain.identity import drafted_message_id, inbound_message_id
from threadline.testing.clock import FakeClock

InboundFactory = Callable[..., InboundMessage]


AppFactory = Callable[..., Conversations]


@pytest.fixture(params=["fastforward", "check_reads"])
def two_writers(
    postgres_app: AppFactory, clock: FakeClock, request: pytest.FixtureRequest
) -> tuple[Conversations, ...]:
    """More than one writer: each cache asks the store for newer events on every load, or each
    unit's reads are checked against the store in one query before it is saved."""
    mode = {request.param: True}
    return (postgres_app(clock, **mode), postgres_app(clock, **mode))


def stale_cache_race(first: Conversations, second: Conversations, inbound: InboundFactory) -> str:
    """`first` caches a conversation; `second` queues a reply in it; then `first` is told
    the reply was dispatched. What became of the reply, as the store has it."""
    first.record_facts([inbound(wa_id="15556002")])
    contact = find_contact(UnitOfWork(first.repository), "pn-1", "15556002", "")
    assert contact is not None and contact.open_conversation_id is not None
    conversation_id = contact.open_conversation_id
    draft = DraftedReply(
        draft_id=uuid4().hex,
        conversation_id=conversation_id,
        in_reply_to_message_id="",
        content={"type": "text", "text": "hello"},
    )
    assert second.record_facts([draft]) == [APPLIED]

    report = DispatchReport(
        message_id=drafted_message_id(draft.draft_id),
        conversation_id=conversation_id,
        wamid="wamid.out.race",
    )
    first.record_facts([report])

    first.forget_cached()  # read what the store holds, not what a writer cached
    stored = first.repository.get(conversation_id)
    return str(stored.messages[str(report.message_id)].wamid)


def test_a_writer_never_decides_on_what_another_changed_since_it_read(
    two_writers: tuple[Conversations, Conversations], inbound: InboundFactory
) -> None:
    assert stale_cache_race(*two_writers, inbound) == "wamid.out.race"


def test_a_conversation_changed_on_a_stale_copy_conflicts_and_is_applied_again_on_a_fresh_one(
    postgres_app: AppFactory, clock: FakeClock, inbound: InboundFactory
) -> None:
    """What the check leaves out: an aggregate the unit changes is not compared before the
    save, since its new events take the versions after the one read and conflict on insert
    with what another writer stored meanwhile."""
    first, second = postgres_app(clock, check_reads=True), postgres_app(clock, check_reads=True)
    first.record_facts([inbound(wa_id="15556003")])  # cached by `first`
    contact = find_contact(UnitOfWork(first.repository), "pn-1", "15556003", "")
    assert contact is not None and contact.open_conversation_id is not None
    draft = DraftedReply(
        draft_id=uuid4().hex,
        conversation_id=contact.open_conversation_id,
        in_reply_to_message_id="",
        content={"type": "text", "text": "hello"},
    )
    assert second.record_facts([draft]) == [APPLIED]
    checked: list[dict[UUID, int]] = []
    changed_since = first.recorder.changed_since  # type: ignore[attr-defined]

    def spy(read: dict[UUID, int]) -> list[UUID]:
        checked.append(dict(read))
        return list(changed_since(read))

    first.recorder.changed_since = spy  # type: ignore[attr-defined]
    later = inbound(wa_id="15556003")

    assert first.record_facts([later]) == [APPLIED]

    # The first unit checked the contact (read, unchanged), not the conversation it changed;
    # the insert conflicted, and the fact was applied again on a fresh copy.
    assert contact.open_conversation_id not in checked[0] and contact.id in checked[0]
    first.forget_cached()
    stored = first.repository.get(contact.open_conversation_id)
    assert str(inbound_message_id(later.wamid)) in stored.messages
    assert str(drafted_message_id(draft.draft_id)) in stored.messages


def test_the_store_names_the_aggregates_changed_since_the_versions_read(
    postgres_app: AppFactory, clock: FakeClock, inbound: InboundFactory
) -> None:
    app = postgres_app(clock)
    app.record_facts([inbound(wa_id="15556004"), inbound(wa_id="15556004")])
    contact = find_contact(UnitOfWork(app.repository), "pn-1", "15556004", "")
    assert contact is not None and contact.open_conversation_id is not None
    talk = contact.open_conversation_id
    version = app.repository.get(talk).version
    recorder = app.recorder

    assert recorder.changed_since({talk: version, contact.id: contact.version}) == []  # type: ignore[attr-defined]
    assert recorder.changed_since({talk: version - 1, contact.id: contact.version}) == [talk]  # type: ignore[attr-defined]
    assert recorder.changed_since({uuid4(): 1, talk: 0}) == [talk]  # type: ignore[attr-defined]
    assert recorder.changed_since({}) == []  # type: ignore[attr-defined]


def test_without_a_check_a_cached_conversation_ignores_what_another_writer_queued(
    postgres_app: AppFactory, clock: FakeClock, inbound: InboundFactory
) -> None:
    """Why several session instances need the check: the first writer's cache is the truth
    only while it is the only writer, and here it ignores a dispatch it knows nothing of."""
    first, second = postgres_app(clock), postgres_app(clock)

    assert stale_cache_race(first, second, inbound) == ""


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

    # Each writer on its own thread, as each session process writes on its one writer thread.
    with ThreadPoolExecutor(max_workers=1) as one, ThreadPoolExecutor(max_workers=1) as two:
        futures = [
            (one if i % 2 else two).submit(record, first if i % 2 else second, m)
            for i, m in enumerate(messages)
        ]
        outcomes = [future.result() for future in futures]

    first.forget_cached()  # read what the store holds, not what a writer cached
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


def test_each_partitions_records_are_those_whose_aggregate_slot_falls_in_it(
    postgres_app: AppFactory, clock: FakeClock, inbound: InboundFactory
) -> None:
    """What the relay of a partition reads (`after_in`, the slot computed by PostgreSQL from
    the id's last 12 bits) is exactly what the partition's subjects name (computed here)."""
    app = postgres_app(clock)
    app.record_facts([inbound(wa_id=f"1555700{n:04d}") for n in range(30)])
    records = StoredRecords(app.recorder)
    everything = records.after(0, 10_000)
    # What was written, by slot: the relays of those partitions are woken, no others.
    assert isinstance(app.recorder, ArrayInsertRecorder)
    assert app.recorder.take_written_slots() == {conversation_slot(r[1]) for r in everything}
    assert app.recorder.take_written_slots() == set()
    head = everything[-1][0]
    assert len({record[1] for record in everything}) > 8  # contacts and conversations

    for partitions in (2, 3):
        found: list[int] = []
        for k in range(partitions):
            mine, reached = records.after_in(0, 10_000, k, partitions)
            assert reached == head  # read to the head: nothing of it left unread
            assert all(conversation_slot(r[1]) % partitions == k for r in mine)
            found += [r[0] for r in mine]
        assert sorted(found) == [r[0] for r in everything]
    # A page ends at its last record: the next read goes on from there.
    first, reached = records.after_in(0, 2, 1, 2)
    rest, _ = records.after_in(reached, 10_000, 1, 2)
    assert len(first) == 2 and reached == first[-1][0]
    assert [r[0] for r in first + rest] == [r[0] for r in records.after_in(0, 10_000, 1, 2)[0]]


def test_instances_starting_together_on_a_fresh_database_all_start(
    postgres_app: AppFactory, clock: FakeClock
) -> None:
    """Session instances started at once (six here) all make the library's tables (its
    `CREATE OR REPLACE FUNCTION` among them): made one at a time, none fails."""
    with ThreadPoolExecutor(max_workers=6) as pool:
        apps = list(pool.map(lambda _: postgres_app(clock), range(6)))

    assert all(app.recorder.max_notification_id() is None for app in apps)


def test_instances_starting_together_make_the_snapshot_table_one_at_a_time(
    database_url: str,
) -> None:
    """The snapshots' recorder (which the application recorder's topic does not reach) makes
    its type and table under the same lock: eight at once on a fresh database all succeed. The
    library's own recorder fails here with a unique violation on `pg_type` (checked)."""
    env = SessionConfig(
        nats_url="", nats_namespace="", database_url=database_url, api_tokens=""
    ).event_store_env()
    factory = InfrastructureFactory.construct(Environment("Conversations", env))
    assert isinstance(factory, SessionStoreFactory)
    ready = Barrier(8)

    def make(_: int) -> AggregateRecorder:
        ready.wait()
        return factory.aggregate_recorder("snapshots")

    with ThreadPoolExecutor(max_workers=8) as pool:
        recorders = list(pool.map(make, range(8)))
    factory.close()

    assert all(isinstance(recorder, SnapshotRecorder) for recorder in recorders)


def test_a_batch_that_met_another_writers_registration_is_saved_whole_on_its_second_try(
    two_writers: tuple[Conversations, Conversations],
    inbound: InboundFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two partitions' first messages on a new business number both register the number
    (version 1 of one aggregate): the batch that loses is applied again whole on fresh
    copies, not one fact a transaction."""
    first, second = two_writers
    load_many = second._load_many
    raced: list[list[Outcome]] = []

    def load_then_race(ids: Iterable[UUID]) -> dict[UUID, Any] | None:
        found = load_many(ids)
        if not raced:  # after `second` saw no number, `first` registers it
            raced.append(first.record_facts([inbound(wa_id="15556301", phone_number_id="pn-9")]))
        return found

    second._load_many = load_then_race  # type: ignore[method-assign]
    saves: list[int] = []
    save = second._save

    def counted_save(unit: UnitOfWork) -> None:
        saves.append(len(list(unit.changed())))
        save(unit)

    second._save = counted_save  # type: ignore[method-assign]
    batch = [inbound(wa_id=f"1555631{n}", phone_number_id="pn-9") for n in range(4)]

    with caplog.at_level(logging.INFO):
        outcomes = second.record_facts(batch)

    assert raced == [[APPLIED]] and outcomes == [APPLIED] * 4
    assert len(saves) == 2  # the conflicting transaction, then the whole batch again
    assert not [r for r in caplog.records if "one at a time" in r.getMessage()]
    second.forget_cached()
    for message in batch:
        contact = find_contact(UnitOfWork(second.repository), "pn-9", message.wa_id, "")
        assert contact is not None and contact.open_conversation_id is not None
        assert second.find_conversation(contact.open_conversation_id).knows(message.wamid)
