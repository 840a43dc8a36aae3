from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import pytest

from threadline.analytics.domain.write.changes import ProjectionError
from threadline.analytics.domain.write.positions import Positions
from threadline.analytics.domain.write.projection import IGNORED, project, projected_bodies, unseen
from threadline.contracts.events.v1 import common_pb2
from threadline.contracts.events.v1 import session_pb2 as ev
from threadline.rules.partitions import conversation_id_in_slot

if TYPE_CHECKING:
    from conftest import EventLog


def test_a_started_conversation_is_an_active_whatsapp_conversation_with_its_lead(
    log: EventLog,
) -> None:
    contact, conversation = uuid4(), uuid4()

    changes = project([log.conversation(conversation, contact, wa_id="15550009999")])

    row = changes.conversations[conversation]
    assert (row.lead_id, row.status, row.channel) == (contact, "active", "whatsapp")
    assert (row.business_number, row.customer_wa_id) == (log.business_number, "15550009999")
    assert row.created_at == log.now


def test_a_customer_message_is_a_received_user_message(log: EventLog) -> None:
    conversation = uuid4()
    event = log.inbound(conversation, "m-1", text="Hi", metadata='{"referral": "ad-7"}')

    message = project([event]).messages["m-1"]

    assert (message.role, message.author, message.status) == ("user", "customer", "received")
    assert (message.type, message.content, message.wamid) == ("text", "Hi", "wamid.in.m-1")
    assert message.metadata == {"referral": "ad-7"}
    assert (message.conversation_id, message.created_at) == (conversation, log.now)


def test_a_queued_reply_is_an_assistant_message_by_its_author(log: EventLog) -> None:
    message = project([log.queued(uuid4(), "m-2")]).messages["m-2"]

    assert (message.role, message.author, message.status) == ("assistant", "ai", "queued")


def test_new_messages_count_and_the_latest_one_is_previewed(log: EventLog) -> None:
    conversation = uuid4()
    long_text = "x" * 150

    activity = project(
        [log.inbound(conversation, "m-1"), log.queued(conversation, "m-2", text=long_text)]
    ).conversation_patches[conversation]

    assert (activity.added, activity.last_message_at) == (2, log.now)
    assert activity.preview == "x" * 100


def test_a_message_without_text_is_previewed_by_its_type(log: EventLog) -> None:
    conversation = uuid4()
    event = log.inbound(conversation, "m-1")
    event.customer_message_received.content.CopyFrom(common_pb2.MessageContent(type="image"))

    assert project([event]).conversation_patches[conversation].preview == "[image]"


def test_dispatch_and_status_changes_fold_into_one_patch_with_the_last_status(
    log: EventLog,
) -> None:
    conversation = uuid4()

    patch = project(
        [
            log.dispatched(conversation, "m-1", "wamid.1"),
            log.status(conversation, "m-1", "delivered"),
            log.status(conversation, "m-1", "read"),
        ]
    ).patches["m-1"]

    assert (patch.wamid, patch.status, patch.updated_at) == ("wamid.1", "read", log.now)


def test_a_failed_send_records_the_whatsapp_error(log: EventLog) -> None:
    patch = project([log.failed(uuid4(), "m-1", code=131047)]).patches["m-1"]

    assert patch.status == "failed"
    assert patch.metadata["error"] == {"code": 131047, "title": "Re-engagement message"}


def test_a_status_report_keeps_its_pricing_and_errors(log: EventLog) -> None:
    event = log.status(uuid4(), "m-1", "failed")
    event.message_status_changed.pricing.CopyFrom(common_pb2.Pricing(category="service"))
    event.message_status_changed.errors.add(code=131026, title="Message undeliverable")

    patch = project([event]).patches["m-1"]

    assert patch.metadata == {
        "pricing": {"category": "service"},
        "errors": [{"code": 131026, "title": "Message undeliverable"}],
    }


def test_metadata_that_is_not_json_is_kept_as_text(log: EventLog) -> None:
    event = log.inbound(uuid4(), "m-1", metadata="{oops")

    assert project([event]).messages["m-1"].metadata == {"unparsed": "{oops"}


def test_an_event_the_projection_does_not_use_changes_nothing(log: EventLog) -> None:
    event = log.contact(uuid4())
    event.contact_conversation_opened.CopyFrom(ev.ContactConversationOpened(conversation_id="c"))

    assert project([event]).empty


def test_an_aggregate_id_that_is_not_a_uuid_cannot_be_projected(log: EventLog) -> None:
    event = log.inbound(uuid4(), "m-1")
    event.aggregate_id = "conversation-1"

    with pytest.raises(ProjectionError, match="not a UUID"):
        project([event])


def test_an_event_without_a_time_cannot_be_projected(log: EventLog) -> None:
    event = log.contact(uuid4())
    event.ClearField("occurred_at")

    with pytest.raises(ProjectionError, match="occurred_at"):
        project([event])


def test_one_message_added_twice_cannot_be_projected(log: EventLog) -> None:
    conversation = uuid4()

    with pytest.raises(ProjectionError, match="added twice"):
        project([log.inbound(conversation, "m-1"), log.inbound(conversation, "m-1")])


def test_only_events_past_the_stored_position_are_unseen_each_once_in_order(
    log: EventLog,
) -> None:
    first, second, third = (log.contact(uuid4()) for _ in range(3))

    fresh = unseen([third, first, second, third], after=Positions((first.position,)))

    assert [e.position for e in fresh] == [second.position, third.position]


def test_each_partition_is_seen_up_to_its_own_position(log: EventLog) -> None:
    # Partition 1's relay is behind partition 0's: its earlier events arrive after later
    # ones of partition 0, and are still unseen.
    early = log.contact(conversation_id_in_slot(1))
    late = log.contact(conversation_id_in_slot(0))
    later = log.contact(conversation_id_in_slot(1))
    after = Positions((late.position, 0))

    fresh = unseen([late, later, early], after=after)

    assert [e.position for e in fresh] == [early.position, later.position]
    assert after.past(fresh) == Positions((late.position, later.position))
    assert not after.seen(early) and after.seen(late)
    # One position for the whole log would have passed over `early`.
    assert unseen([early], after=Positions((late.position,))) == []


def test_an_events_partition_is_the_slot_of_its_aggregate_id(log: EventLog) -> None:
    event = log.contact(UUID("00000000-0000-4000-8000-000000000fff"))  # slot 4095

    assert [Positions((0,) * n).partition(event) for n in (1, 2, 4, 7)] == [
        0,
        4095 % 2,
        4095 % 4,
        4095 % 7,
    ]
    assert Positions((3, 9, 5)).complete == 3


def test_a_status_held_until_its_dispatch_is_known_changes_nothing_yet(log: EventLog) -> None:
    event = log.status(uuid4(), "m-1", "delivered")
    event.early_status_held.CopyFrom(ev.EarlyStatusHeld(wamid="wamid.1", status="read"))

    assert project([event]).empty


def test_every_kind_of_session_event_is_projected_or_deliberately_ignored() -> None:
    bodies = {field.name for field in ev.SessionEvent.DESCRIPTOR.oneofs_by_name["body"].fields}

    assert projected_bodies() | IGNORED == bodies
    assert not projected_bodies() & IGNORED
