"""Stored records decode to the `SessionEvent`s the domain-object path made (the oracle in
`legacy_session_events.py`), without building domain event objects."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from types import ModuleType
from typing import Any
from uuid import UUID, uuid4, uuid5

import pytest
from eventsourcing.persistence import StoredEvent

from threadline.contracts.events.v1 import session_pb2 as pb
from threadline.messaging.topology import Topology
from threadline.session.adapters.integration_events.event_bodies import BODIES
from threadline.session.adapters.integration_events.session_events import SessionEvents, event_id
from threadline.session.adapters.outbound.stored_records import StoredRecords
from threadline.session.application.conversations import Conversations
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.identity import NAMESPACE

SameEvent = Callable[[pb.SessionEvent, pb.SessionEvent], None]
EveryEventType = Callable[..., None]
TOPIC = "threadline.session.domain.conversation:Conversation."
LONG = re.compile(rb"[0-9]{19}")
ODD_NUMBERS = {"big": 2**70, "negative": -(2**70), "nan": float("nan"), "float": 1e300}


# The PostgreSQL case asks for its database at run time: it carries the integration mark.
@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest) -> Iterator[Conversations]:
    if request.param == "memory":
        yield Conversations({"PERSISTENCE_MODULE": "eventsourcing.popo"})
        return
    make: Callable[..., Conversations] = request.getfixturevalue("postgres_app")
    yield make()


def oracle(app: Conversations, legacy: ModuleType) -> list[pb.SessionEvent]:
    notes = app.recorder.select_notifications(1, 10_000)
    return [legacy.to_session_event(app.mapper.to_domain_event(n), n.id)[2] for n in notes]


def decoded(app: Conversations) -> list[pb.SessionEvent]:
    events = SessionEvents(app.mapper)
    return [events.decode(record) for record in StoredRecords(app.recorder).after(0, 10_000)]


def a_conversation() -> Conversation:
    return Conversation(
        contact_id=uuid4(),
        phone_number_id="pn-1",
        customer_wa_id="1555",
        customer_user_id="",
        customer_name="Bo",
        session_key="k",
    )


def spy_on_library(app: Conversations, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The topics of the records decoded by the library's mapper from now on."""
    seen: list[str] = []
    decode = app.mapper.to_domain_event

    def spy(stored: StoredEvent) -> Any:
        seen.append(stored.topic)
        return decode(stored)

    monkeypatch.setattr(app.mapper, "to_domain_event", spy)
    return seen


def test_every_event_type_decodes_as_the_domain_object_path_made_it(
    store: Conversations,
    same_event: SameEvent,
    legacy: ModuleType,
    every_event_type: EveryEventType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    every_event_type(store)
    every_event_type(store, number="pn-twice")  # the quick path, with types learned
    old = oracle(store, legacy)
    by_library = spy_on_library(store, monkeypatch)

    new = decoded(store)

    assert {e.event_type for e in new} == set(BODIES)
    # Only states with a run of 19 digits (a random UUID's hex, now and then) go the slow way.
    long_runs = [r for r in StoredRecords(store.recorder).after(0, 1000) if LONG.search(r[4])]
    assert len(by_library) == len(long_runs)
    assert [e.position for e in new] == [e.position for e in old]
    for mine, theirs in zip(new, old, strict=True):
        same_event(mine, theirs)


def test_values_only_the_library_reads_exactly_take_its_path(
    same_event: SameEvent, store: Conversations, legacy: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    talk = a_conversation()
    talk.receive_customer_message(
        message_id=uuid4(),
        wamid="w1",
        content={"type": "text", "text": "hi"},
        sent_at=at,
        metadata=ODD_NUMBERS,
    )
    plain_id: Any = "not-a-uuid-object"  # a field stored as text where a UUID was expected
    talk.receive_customer_message(message_id=plain_id, wamid="w2", content={}, sent_at=at)
    talk.receive_customer_message(
        message_id=uuid4(), wamid="w3", content={}, sent_at=at, metadata={"k": {"_type_": "x"}}
    )
    out = uuid4()
    talk.queue_outbound(message_id=out, author="ai", content={"type": "text", "text": "o"}, now=at)
    talk.record_dispatch(message_id=out, wamid="wo")
    talk.report_status(
        wamid="wo",
        status="sent",
        reported_at=at,
        pricing={"billable": 1, "category": uuid4(), "type": Decimal("1.50")},
        errors=[{"code": Decimal("131047"), "title": at}],
    )
    store.save(talk)
    old = oracle(store, legacy)
    by_library = spy_on_library(store, monkeypatch)

    new = decoded(store)

    assert len(new) == 7
    # The long integers and NaN; the key named `_type_` (the plain id is read quickly).
    assert by_library.count(f"{TOPIC}CustomerMessageReceived") == 2
    assert by_library.count(f"{TOPIC}MessageStatusChanged") == 1  # the UUID inside pricing
    for mine, theirs in zip(new, old, strict=True):
        same_event(mine, theirs)
    received = new[1].customer_message_received
    assert received.metadata_json == json.dumps(ODD_NUMBERS, sort_keys=True)


def test_a_transcoded_value_nested_in_a_json_field_is_decoded_as_the_library_does() -> None:
    app = Conversations({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    talk = a_conversation()
    nested_id = uuid4()
    talk.reach_flow_step(
        flow_id="f",
        step_id="s",
        data={"id": nested_id, "at": at, "n": [Decimal("2.5")]},
        completed=True,
    )
    app.save(talk)

    # The domain-object path raised TypeError here (`json` cannot write a UUID); the values
    # are written as the text the transcoder read them from.
    flow = decoded(app)[1].flow_step_reached

    assert json.loads(flow.session_data_json) == {
        "id": str(nested_id),
        "at": at.isoformat(),
        "n": ["2.5"],
    }


def test_fields_an_older_record_lacks_get_their_defaults() -> None:
    app = Conversations({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    events = SessionEvents(app.mapper)
    topic = TOPIC
    stamp = {"_type_": "datetime_iso", "_data_": "2026-03-01T09:30:00+00:00"}
    started = {"timestamp": stamp, "contact_id": {"_type_": "uuid_hex", "_data_": "ab" * 16}}
    received = {"timestamp": stamp, "wamid": "w1", "content": {"type": "text"}}
    aggregate = str(uuid4())

    first = events.decode((1, aggregate, 1, f"{topic}Started", json.dumps(started).encode()))
    second = events.decode(
        (2, aggregate, 2, f"{topic}CustomerMessageReceived", json.dumps(received).encode())
    )

    assert (first.conversation_started.channel, first.conversation_started.opened_by) == (
        "whatsapp",
        "customer",
    )
    assert first.conversation_started.category == "SERVICE"
    assert first.conversation_started.contact_id == str(UUID("ab" * 16))
    body = second.customer_message_received
    assert (body.message_id, body.metadata_json, body.free_entry) == ("", "{}", False)
    assert body.HasField("sent_at") and body.content.type == "text"


def test_event_ids_are_the_uuid5_of_originator_and_version() -> None:
    for version in (1, 2, 99, 10**12):
        originator = str(uuid4())
        assert event_id(originator, version) == str(
            uuid5(NAMESPACE, f"event:{originator}:{version}")
        )


def test_outbox_records_are_those_of_the_domain_object_path(
    same_event: SameEvent, legacy: ModuleType, every_event_type: EveryEventType
) -> None:
    app = Conversations({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    every_event_type(app)
    topology = Topology("ns")
    events = SessionEvents(app.mapper)
    notes = app.recorder.select_notifications(1, 1000)

    records = StoredRecords(app.recorder).after(0, 1000)
    mine_all = [events.outbox_record(record, topology) for record in records]
    for mine, note in zip(mine_all, notes, strict=True):
        theirs = legacy.to_outbox_record(app.mapper.to_domain_event(note), note.id, topology)
        assert (mine.position, mine.subject, mine.msg_id, mine.headers) == (
            theirs.position,
            theirs.subject,
            theirs.msg_id,
            theirs.headers,
        )
        same_event(
            pb.SessionEvent.FromString(mine.payload), pb.SessionEvent.FromString(theirs.payload)
        )
    assert any("traceparent" in r.headers for r in mine_all)


@pytest.mark.parametrize(
    ("old", "new", "state", "body"),
    [
        (
            "FlowStepRecorded",
            "FlowStepReached",
            {"flow_id": "f", "step_id": "s", "data": {}, "completed": True},
            "flow_step_reached",
        ),
        (
            "OutboundMessageFailed",
            "OutboundMessageDispatchFailed",
            {
                "message_id": {"_type_": "uuid_hex", "_data_": "cd" * 16},
                "code": 131047,
                "title": "Re-engagement message",
                "detail": "",
                "trace": "",
            },
            "outbound_message_dispatch_failed",
        ),
        (
            "StatusReportedEarly",
            "EarlyStatusHeld",
            {
                "wamid": "wamid.1",
                "status": "read",
                "reported_at": {"_type_": "datetime_iso", "_data_": "2026-03-01T09:30:00+00:00"},
                "pricing": {},
                "errors": [],
            },
            "early_status_held",
        ),
    ],
)
def test_an_event_stored_under_its_old_name_loads_under_the_new_one(
    old: str, new: str, state: dict[str, Any], body: str
) -> None:
    """History is never rewritten: an event renamed after it was stored still loads, as the
    renamed event, through both the library's path and the relay's."""
    app = Conversations({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    aggregate = uuid4()
    stamp = {"_type_": "datetime_iso", "_data_": "2026-03-01T09:30:00+00:00"}
    stored = StoredEvent(
        aggregate, 7, f"{TOPIC}{old}", json.dumps({"timestamp": stamp, **state}).encode()
    )

    event = app.mapper.to_domain_event(stored)
    assert type(event) is getattr(Conversation, new)

    message = SessionEvents(app.mapper).decode((1, str(aggregate), 7, stored.topic, stored.state))
    assert message.event_type == f"Conversation.{new}"
    assert message.WhichOneof("body") == body
