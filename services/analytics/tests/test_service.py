"""The service end to end: session events on NATS in, conversations over gRPC out."""

from __future__ import annotations

import json
import random
import string
from typing import TYPE_CHECKING
from uuid import uuid4

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.events.v1 import common_pb2
from threadline.messaging.dead_letters import REASON

if TYPE_CHECKING:
    from conftest import EventLog, RunningAnalytics


async def test_a_conversation_shows_both_messages_oldest_first_with_final_statuses(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    contact, conversation = uuid4(), uuid4()
    events = [
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, "m-in", text="Do you deliver on Sundays?"),
        log.queued(conversation, "m-out", text="Yes, from 10 to 4."),
        log.dispatched(conversation, "m-out", "wamid.out.1"),
        log.status(conversation, "m-out", "delivered"),
        log.status(conversation, "m-out", "read"),
    ]
    await analytics.publish(*events)
    await analytics.projected(log.position)

    reply = await analytics.queries.GetConversation(
        pb.GetConversationRequest(conversation_id=str(conversation)),
        metadata=analytics.reader,
    )

    assert [(m.id, m.role, m.author, m.status) for m in reply.messages] == [
        ("m-in", "user", "customer", "received"),
        ("m-out", "assistant", "ai", "read"),
    ]
    assert reply.messages[1].wamid == "wamid.out.1"
    assert reply.conversation.message_count == 2
    assert reply.conversation.last_message_preview == "Yes, from 10 to 4."
    assert reply.conversation.lead.id == str(contact)
    assert reply.conversation.lead.wa_id == "15550001111"
    assert reply.conversation.status == "active"


async def test_an_event_delivered_again_changes_nothing(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    contact, conversation = uuid4(), uuid4()
    await analytics.publish(log.contact(contact), log.conversation(conversation, contact))
    inbound = log.inbound(conversation, "m-1")
    await analytics.publish(inbound)
    await analytics.projected(log.position)

    await analytics.publish_again(inbound, msg_id=f"again-{inbound.event_id}")
    later = log.status(conversation, "m-1", "read")
    await analytics.publish(later)
    await analytics.projected(later.position)

    reply = await analytics.queries.ListMessages(
        pb.ListMessagesRequest(conversation_id=str(conversation)), metadata=analytics.reader
    )
    assert [m.id for m in reply.messages] == ["m-1"]
    assert reply.total == 1


async def test_a_poison_payload_is_dead_lettered_and_later_events_still_apply(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    contact, conversation = uuid4(), uuid4()
    await analytics.publish(log.contact(contact), log.conversation(conversation, contact))
    log.position += 1
    await analytics.publish_raw(
        "session.events.Conversation.CustomerMessageReceived",
        b"\xff\xffnot a protobuf",
        msg_id=f"poison-{uuid4()}",
        position=log.position,
    )
    await analytics.publish(log.inbound(conversation, "m-after"))
    await analytics.projected(log.position)

    reply = await analytics.queries.GetConversation(
        pb.GetConversationRequest(conversation_id=str(conversation)),
        metadata=analytics.reader,
    )
    dead = await analytics.dead_letters(count=1)

    assert [m.id for m in reply.messages] == ["m-after"]
    assert len(dead) == 1
    assert dead[0].subject == analytics.topology.subject("dlq.analytics.undecodable")
    assert "not a SessionEvent" in (dead[0].headers or {})[REASON]


async def test_an_event_the_database_rejects_is_dead_lettered_alone(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    contact, conversation = uuid4(), uuid4()
    too_long_for_an_index = "".join(random.choices(string.ascii_letters, k=3000))
    events = [
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, "m-before"),
        log.inbound(conversation, too_long_for_an_index),  # the messages' primary key
        log.inbound(conversation, "m-after"),
    ]
    await analytics.publish(*events)
    await analytics.projected(log.position)

    reply = await analytics.queries.GetConversation(
        pb.GetConversationRequest(conversation_id=str(conversation)),
        metadata=analytics.reader,
    )
    dead = await analytics.dead_letters(count=1)

    assert [m.id for m in reply.messages] == ["m-before", "m-after"]
    assert reply.conversation.message_count == 2
    assert [d.subject for d in dead] == [analytics.topology.subject("dlq.analytics.unprojectable")]
    assert dead[0].data == events[3].SerializeToString()
    assert "ProgramLimitExceeded" in (dead[0].headers or {})[REASON]


async def test_the_read_side_events_delivered_again_change_nothing(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    contact, conversation = uuid4(), uuid4()
    pricing = common_pb2.Pricing(billable=True, category="utility")
    events = [
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, "m-1", text="Where is my order?"),
        log.queued(conversation, "r-1", model="alpha", prompt_tokens=300, completion_tokens=20),
        log.status(conversation, "r-1", "delivered", pricing=pricing),
        log.changed(conversation, "e-1", kind="edit", target="m-1", text="Where is order 7?"),
        log.status_changed(conversation, "escalated", ai_paused=True, by="ai"),
        log.inbound(conversation, "m-2"),
        log.queued(conversation, "r-2", author="agent"),
    ]
    await analytics.publish(*events)
    await analytics.projected(log.position)
    request = pb.GetConversationRequest(conversation_id=str(conversation))
    before = await analytics.queries.GetConversation(request, metadata=analytics.reader)

    for event in events:
        await analytics.publish_again(event, msg_id=f"again-{event.event_id}")
    marker = log.renamed(contact, "Ana C.")
    await analytics.publish(marker)
    await analytics.projected(marker.position)
    after = await analytics.queries.GetConversation(request, metadata=analytics.reader)

    assert after.messages == before.messages
    assert after.conversation.cost == before.conversation.cost > 0
    assert (after.conversation.tokens, after.conversation.message_count) == (320, 4)
    assert after.conversation.lead.name == "Ana C."
    assert json.loads(after.messages[0].metadata_json)["original_content"] == "Where is my order?"
