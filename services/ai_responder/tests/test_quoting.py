"""The assistant quotes the customer message it answers when that message is no longer the
newest of the conversation (issue 11 item 8): unit tests of the rule, and the responder over
real NATS JetStream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import nats
import pytest
from nats.js import JetStreamContext

from threadline.ai_responder.bootstrap import bootstrap
from threadline.ai_responder.config import AiResponderConfig
from threadline.ai_responder.domain.quoting import quoted_message_id
from threadline.contracts.events.v1 import ai_pb2, common_pb2
from threadline.contracts.events.v1 import session_pb2 as events
from threadline.messaging.topology import AI_EVENTS, SESSION_EVENT, Topology
from threadline.testing import eventually, unique_id


def test_a_reply_right_after_what_it_answers_quotes_nothing() -> None:
    assert quoted_message_id("m-3", ["m-1", "out-1", "m-2", "m-3"]) == ""


def test_a_reply_after_something_else_was_said_quotes_what_it_answers() -> None:
    assert quoted_message_id("m-2", ["m-1", "m-2", "out-1"]) == "m-2"  # an operator wrote
    assert quoted_message_id("m-2", ["m-1", "m-2", "sticker-1"]) == "m-2"  # not answered


def test_a_message_the_conversation_does_not_hold_is_not_quoted() -> None:
    assert quoted_message_id("m-9", ["m-1", "m-2"]) == ""
    assert quoted_message_id("", ["m-1"]) == ""
    assert quoted_message_id("m-1", []) == ""


# Over NATS --------------------------------------------------------------------------------------

DELAY = 0.5  # the reply delay: the business's message below arrives within it


@pytest.fixture
async def js(nats_server_url: str, nats_namespace: str) -> AsyncIterator[JetStreamContext]:
    config = AiResponderConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        ops_port=0,
        reply_delay_seconds=DELAY,
    )
    connection = await nats.connect(nats_server_url)
    async with AsyncExitStack() as stack:
        await bootstrap(config, stack)
        yield connection.jetstream()
    await connection.close()


async def publish(js: JetStreamContext, topology: Topology, event: events.SessionEvent) -> None:
    name = "CustomerMessageReceived"
    if event.HasField("outbound_message_queued"):
        name = "OutboundMessageQueued"
    await js.publish(
        topology.publish_subject(SESSION_EVENT, aggregate="Conversation", event=name),
        event.SerializeToString(),
        headers={"Nats-Msg-Id": event.event_id},
    )


def customer_wrote(conversation_id: str, position: int, text: str) -> events.SessionEvent:
    event = events.SessionEvent(
        event_id=unique_id("e-"), aggregate_id=conversation_id, position=position
    )
    message = event.customer_message_received
    message.message_id = unique_id("m-")
    message.wamid = unique_id("wamid.")
    message.content.CopyFrom(common_pb2.MessageContent(type="text", text=text))
    message.sent_at.FromDatetime(datetime.now(UTC))
    return event


def operator_wrote(conversation_id: str, position: int, text: str) -> events.SessionEvent:
    event = events.SessionEvent(
        event_id=unique_id("e-"), aggregate_id=conversation_id, position=position
    )
    queued = event.outbound_message_queued
    queued.message_id = unique_id("out-")
    queued.author = "agent"
    queued.content.CopyFrom(common_pb2.MessageContent(type="text", text=text))
    return event


async def drafts(js: JetStreamContext, topology: Topology) -> list[ai_pb2.ReplyDrafted]:
    stream = topology.stream(AI_EVENTS)
    last = (await js.stream_info(stream)).state.last_seq
    found = [await js.get_msg(stream, seq) for seq in range(1, last + 1)]
    return [
        ai_pb2.ReplyDrafted.FromString(m.data) for m in found if m.subject.endswith(".ReplyDrafted")
    ]


@pytest.mark.integration
async def test_the_assistant_quotes_a_question_an_operator_wrote_after(
    js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    quoted_conversation, plain_conversation = unique_id("c-"), unique_id("c-")
    asked = customer_wrote(quoted_conversation, 1, "Do you deliver on Sundays?")
    plain = customer_wrote(plain_conversation, 1, "Do you deliver on Mondays?")

    await publish(js, topology, asked)
    await publish(js, topology, operator_wrote(quoted_conversation, 2, "Let me check"))
    await publish(js, topology, plain)

    async def both_drafted() -> bool:
        return len(await drafts(js, topology)) == 2

    await eventually(both_drafted)
    by_conversation = {d.conversation_id: d for d in await drafts(js, topology)}
    question_id = asked.customer_message_received.message_id
    assert by_conversation[quoted_conversation].in_reply_to_message_id == question_id
    assert by_conversation[quoted_conversation].quoted_message_id == question_id
    assert by_conversation[plain_conversation].quoted_message_id == ""
