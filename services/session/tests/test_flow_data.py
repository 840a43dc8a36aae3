"""A flow's step with its expiry, status and version on the conversation, the data it collected
on the contact (issue 12 items 2 and 3), and auto-resolution of a conversation by how its flow
ended."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from google.protobuf.timestamp_pb2 import Timestamp

from threadline.contracts.events.v1 import ai_pb2
from threadline.contracts.events.v1 import session_pb2 as pb
from threadline.messaging.topology import FLOW_STEP_REACHED, Topology
from threadline.session.adapters.integration_events.incoming_facts import decode_fact
from threadline.session.adapters.integration_events.session_events import SessionEvents
from threadline.session.adapters.outbound.stored_records import StoredRecords
from threadline.session.application.contacts import find_contact
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import FlowStepReached, InboundMessage
from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.application.views import ConversationView
from threadline.session.domain.contact import Contact
from threadline.session.domain.conversation import Conversation
from threadline.testing.clock import FakeClock

InboundFactory = Callable[..., InboundMessage]
EXPIRES = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)


def started(app: Conversations, inbound: InboundFactory, wa_id: str) -> ConversationView:
    app.record_facts([inbound(wa_id=wa_id)])
    contact = find_contact(UnitOfWork(app.repository), "pn-1", wa_id, "")
    assert contact is not None and contact.open_conversation_id is not None
    return app.find_conversation(contact.open_conversation_id)


def step(conversation: ConversationView, step_id: str, **changes: Any) -> FlowStepReached:
    fields: dict[str, Any] = {
        "conversation_id": conversation.id,
        "flow_id": "booking",
        "step_id": step_id,
        "data": {},
        "completed": False,
        "expires_at": EXPIRES,
        "status": "running",
        "flow_version": 2,
    }
    return FlowStepReached(**(fields | changes))


def contact_of(app: Conversations, conversation: ConversationView) -> Contact:
    contact = app.repository.get(conversation.contact_id)
    assert isinstance(contact, Contact)
    return contact


def published(app: Conversations) -> list[pb.SessionEvent]:
    events = SessionEvents(app.mapper)
    return [events.decode(record) for record in StoredRecords(app.recorder).after(0, 10_000)]


def test_a_step_keeps_its_expiry_status_and_version(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation = started(app, inbound, "15553001")

    app.record_facts([step(conversation, "ask-date", data={"name": "Ana"})])

    flow = app.find_conversation(conversation.id).flow
    assert flow == {
        "flow_id": "booking",
        "step_id": "ask-date",
        "data": {"name": "Ana"},
        "completed": False,
        "expires_at": EXPIRES,
        "status": "running",
        "flow_version": 2,
    }
    (body,) = [e.flow_step_reached for e in published(app) if e.HasField("flow_step_reached")]
    assert (body.flow_id, body.step_id, body.status, body.flow_version) == (
        "booking",
        "ask-date",
        "running",
        2,
    )
    assert body.expires_at.ToDatetime(tzinfo=UTC) == EXPIRES
    assert json.loads(body.session_data_json) == {"name": "Ana"}


def test_the_same_step_again_changes_nothing_but_a_new_expiry_or_status_is_recorded() -> None:
    talk = Conversation(
        contact_id=Contact.create_id("pn-1", "1555", "", "Bo"),
        phone_number_id="pn-1",
        customer_wa_id="1555",
        customer_user_id="",
        customer_name="Bo",
        session_key="k",
    )
    at = {"flow_id": "f", "step_id": "s", "data": {}, "completed": False, "flow_version": 1}

    assert talk.reach_flow_step(**at, expires_at=EXPIRES, status="running")
    assert not talk.reach_flow_step(**at, expires_at=EXPIRES, status="running")
    assert talk.reach_flow_step(**at, expires_at=EXPIRES + timedelta(minutes=5), status="running")
    assert talk.reach_flow_step(**at, expires_at=EXPIRES + timedelta(minutes=5), status="expired")
    assert talk.flow is not None and talk.flow["status"] == "expired"


def test_a_flow_step_without_the_new_fields_decodes_to_no_expiry() -> None:
    subject = Topology().publish_subject(FLOW_STEP_REACHED)
    old = ai_pb2.FlowStepReached(
        conversation_id="6a1f0b9e-2c3d-4e5f-8a7b-9c0d1e2f3a4b",
        flow_id="booking",
        step_id="ask",
        session_data_json='{"name": "Ana"}',
    )
    new = ai_pb2.FlowStepReached()
    new.CopyFrom(old)
    new.expires_at.CopyFrom(Timestamp(seconds=int(EXPIRES.timestamp())))
    new.status = "handed_off"
    new.flow_version = 4

    before = decode_fact(subject, old.SerializeToString())
    after = decode_fact(subject, new.SerializeToString())

    assert isinstance(before, FlowStepReached) and isinstance(after, FlowStepReached)
    assert (before.expires_at, before.status, before.flow_version) == (None, "", 0)
    assert (after.expires_at, after.status, after.flow_version) == (EXPIRES, "handed_off", 4)
    assert after.data == {"name": "Ana"}


def test_collected_data_is_kept_on_the_contact_with_only_the_changed_fields(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation = started(app, inbound, "15553002")
    first = {"name": "Ana Souza", "email": "ana@example.com"}

    app.record_facts([step(conversation, "ask-email", data=first)])
    app.record_facts([step(conversation, "ask-email", data=first)])  # redelivered
    app.record_facts(
        [step(conversation, "ask-date", data=first | {"email": "ana@x.pt", "date": "2026-03-02"})]
    )

    contact = contact_of(app, conversation)
    assert contact.data == {"name": "Ana Souza", "email": "ana@x.pt", "date": "2026-03-02"}
    collected = [
        e.contact_data_collected for e in published(app) if e.HasField("contact_data_collected")
    ]
    assert [json.loads(c.fields_json) for c in collected] == [
        {"email": "ana@example.com", "name": "Ana Souza"},
        {"date": "2026-03-02", "email": "ana@x.pt"},
    ]
    assert {c.conversation_id for c in collected} == {str(conversation.id)}


def test_a_step_that_collected_nothing_new_records_nothing_on_the_contact(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation = started(app, inbound, "15553003")
    app.record_facts([step(conversation, "ask-name", data={"name": "Ana"})])
    version = contact_of(app, conversation).version

    app.record_facts([step(conversation, "greet", data={"name": "Ana"})])
    app.record_facts([step(conversation, "ask-more", data={})])

    assert contact_of(app, conversation).version == version
    assert app.find_conversation(conversation.id).flow == {
        "flow_id": "booking",
        "step_id": "ask-more",
        "data": {},
        "completed": False,
        "expires_at": EXPIRES,
        "status": "running",
        "flow_version": 2,
    }


def test_the_step_and_the_collected_data_are_stored_together(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation = started(app, inbound, "15553004")
    before = app.recorder.max_notification_id() or 0

    app.record_facts([step(conversation, "ask-name", data={"name": "Ana"})])

    stored = app.recorder.select_notifications(before + 1, 10)
    assert sorted(n.topic.rsplit(".", 1)[-1] for n in stored) == [
        "DataCollected",
        "FlowStepReached",
    ]


def test_an_idle_conversation_whose_flow_expired_is_abandoned(
    app: Conversations, inbound: InboundFactory, clock: FakeClock
) -> None:
    conversation = started(app, inbound, "15553005")
    app.record_facts([step(conversation, "ask-date", status="expired")])
    clock.advance(timedelta(hours=12))

    assert app.auto_resolve(conversation.id)

    assert app.find_conversation(conversation.id).status == "abandoned"


def test_an_idle_conversation_whose_flow_ran_to_the_end_is_completed(
    app: Conversations, inbound: InboundFactory, clock: FakeClock
) -> None:
    conversation = started(app, inbound, "15553006")
    app.record_facts([step(conversation, "done", completed=True, status="completed")])
    clock.advance(timedelta(hours=12))

    assert app.auto_resolve(conversation.id)

    assert app.find_conversation(conversation.id).status == "completed"


def test_an_idle_conversation_whose_flow_is_still_running_is_abandoned(
    app: Conversations, inbound: InboundFactory, clock: FakeClock
) -> None:
    conversation = started(app, inbound, "15553007")
    app.record_facts([step(conversation, "ask-date")])
    clock.advance(timedelta(hours=12))

    assert app.auto_resolve(conversation.id)

    assert app.find_conversation(conversation.id).status == "abandoned"


# A FlowStepReached as stored before issue 12 added its expiry, status and version.
STEP_BEFORE_EXPIRY = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-03-01T09:31:00+00:00"},'
    b'"flow_id":"booking","step_id":"ask-date","data":{"name":"Ana"},"completed":false}'
)


def test_a_step_stored_before_flows_expired_reads_back_with_the_defaults(
    app: Conversations,
) -> None:
    topic = get_topic(Conversation.FlowStepReached)
    stored = StoredEvent(Contact.create_id("pn-1", "1", "", ""), 2, topic, STEP_BEFORE_EXPIRY)

    by_library = app.mapper.to_domain_event(stored)
    quickly = SessionEvents(app.mapper).decode(
        (7, str(stored.originator_id), 2, topic, stored.state)
    )

    assert isinstance(by_library, Conversation.FlowStepReached)
    assert (by_library.expires_at, by_library.status, by_library.flow_version) == (None, "", 0)
    body = quickly.flow_step_reached
    assert not body.HasField("expires_at")
    assert (body.step_id, body.status, body.flow_version) == ("ask-date", "", 0)
