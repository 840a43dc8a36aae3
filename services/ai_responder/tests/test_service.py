"""The AI responder over real NATS JetStream: the session's conversation events in, one answer
per burst out on AI_EVENTS (after a short reply delay)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import nats
import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from threadline.ai_responder.application.ports import ModelAnswer, ModelRequest, Usage
from threadline.ai_responder.bootstrap import bootstrap
from threadline.ai_responder.config import AiResponderConfig
from threadline.contracts.events.v1 import ai_pb2, common_pb2
from threadline.contracts.events.v1 import session_pb2 as events
from threadline.messaging.bus import InMemoryBus
from threadline.messaging.topology import (
    AI_EVENTS,
    AI_RESPONDER_REPLIES,
    REPLY_DRAFTED,
    SESSION_EVENT,
    SESSION_EVENTS,
    Topology,
)
from threadline.testing import eventually, unique_id

DELAY = 0.2  # the reply delay these tests run with


def config_of(nats_server_url: str, nats_namespace: str) -> AiResponderConfig:
    return AiResponderConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        ops_port=0,
        reply_delay_seconds=DELAY,
    )


@pytest.fixture
async def js(nats_server_url: str, nats_namespace: str) -> AsyncIterator[JetStreamContext]:
    config = config_of(nats_server_url, nats_namespace)
    nc = await nats.connect(nats_server_url)
    async with AsyncExitStack() as stack:
        await bootstrap(config, stack)
        yield nc.jetstream()
    await nc.close()


async def publish_customer_message(
    js: JetStreamContext,
    topology: Topology,
    text: str,
    *,
    age: timedelta = timedelta(0),
    conversation_id: str = "",
) -> str:
    event = events.SessionEvent(
        event_id=unique_id("e-"), aggregate_id=conversation_id or unique_id("c-")
    )
    message = event.customer_message_received
    message.message_id = unique_id("m-")
    message.content.CopyFrom(common_pb2.MessageContent(type="text", text=text))
    message.sent_at.FromDatetime(datetime.now(UTC) - age)
    await js.publish(
        topology.publish_subject(
            SESSION_EVENT, aggregate="Conversation", event="CustomerMessageReceived"
        ),
        event.SerializeToString(),
        headers={"Nats-Msg-Id": event.event_id},
    )
    return message.message_id


async def published(js: JetStreamContext, topology: Topology) -> list[tuple[str, bytes]]:
    stream = topology.stream(AI_EVENTS)
    info = await js.stream_info(stream)
    return [
        (m.subject.rsplit(".", 1)[-1], m.data)
        for m in [await js.get_msg(stream, seq) for seq in range(1, info.state.last_seq + 1)]
    ]


async def consumer_idle(js: JetStreamContext, topology: Topology) -> bool:
    try:
        info = await js.consumer_info(topology.stream(SESSION_EVENTS), AI_RESPONDER_REPLIES.name)
    except NotFoundError:  # the service creates its consumer as it starts
        return False
    return (info.num_pending, info.num_ack_pending) == (0, 0) and info.delivered.stream_seq > 0


async def test_a_customer_message_gets_a_drafted_reply_on_ai_events(
    js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)

    message_id = await publish_customer_message(js, topology, "hello there")

    async def drafted() -> bool:
        return len(await published(js, topology)) >= 1

    await eventually(drafted)
    ((kind, data),) = await published(js, topology)
    draft = ai_pb2.ReplyDrafted.FromString(data)
    assert kind == "ReplyDrafted" and draft.in_reply_to_message_id == message_id
    assert list(draft.covered_message_ids) == [message_id]
    assert (draft.assistant, draft.assistant_version) == ("default", 0)


async def test_three_quick_messages_get_one_reply_covering_all_three(
    js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    conversation_id = unique_id("c-")

    sent = [
        await publish_customer_message(js, topology, text, conversation_id=conversation_id)
        for text in ("hi", "I would like to book", "for Tuesday")
    ]

    async def drafted() -> bool:
        return len(await published(js, topology)) >= 1

    await eventually(drafted)
    await asyncio.sleep(DELAY * 3)  # time enough for a second reply, were there one
    ((kind, data),) = await published(js, topology)
    draft = ai_pb2.ReplyDrafted.FromString(data)
    assert kind == "ReplyDrafted"
    assert (draft.in_reply_to_message_id, list(draft.covered_message_ids)) == (sent[-1], sent)


async def test_asking_for_a_person_also_requests_a_hand_off_after_the_reply(
    js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)

    await publish_customer_message(js, topology, "I want to speak to an agent")

    async def answered() -> bool:
        return len(await published(js, topology)) >= 2

    await eventually(answered)
    assert [kind for kind, _ in await published(js, topology)] == [
        "ReplyDrafted",
        "HandOffRequested",
    ]


async def test_a_stale_message_is_acknowledged_without_a_reply(
    js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)

    await publish_customer_message(js, topology, "hello", age=timedelta(days=2))

    await eventually(lambda: consumer_idle(js, topology))
    await asyncio.sleep(DELAY * 3)  # past the delay a reply would have waited
    assert await published(js, topology) == []


class EchoModel:
    """A model of the test's own: echoes what it reads of the customer, as plain text."""

    name = "echo"

    async def generate(self, request: ModelRequest) -> ModelAnswer:
        (turn,) = request.turns
        return ModelAnswer(f"you said: {turn.text}", (), Usage(1, 1), self.name, 0.0)

    async def close(self) -> None:
        return None


async def test_the_model_and_the_bus_are_ports_a_test_can_swap(
    nats_server_url: str, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    config = config_of(nats_server_url, nats_namespace)
    bus = InMemoryBus()
    nc = await nats.connect(nats_server_url)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(nc.close)
        running = await bootstrap(config, stack, bus=bus, model=EchoModel())
        url = f"http://127.0.0.1:{running.ops.port}/readyz"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            assert (response.status, await response.json()) == (
                200,
                {"ready": True, "problems": {}},
            )

        await publish_customer_message(nc.jetstream(), topology, "hello")

        await eventually(lambda: len(bus.published) == 1)
    (reply,) = bus.published
    assert reply.subject == topology.publish_subject(REPLY_DRAFTED)
    draft = ai_pb2.ReplyDrafted.FromString(reply.payload)
    assert (draft.content.text, draft.model) == ("you said: hello", "echo")


async def drafts_on(js: JetStreamContext, topology: Topology) -> list[ai_pb2.ReplyDrafted]:
    return [
        ai_pb2.ReplyDrafted.FromString(data)
        for kind, data in await published(js, topology)
        if kind == "ReplyDrafted"
    ]


async def test_a_responder_restarted_in_the_middle_of_a_wait_answers_once_after_it(
    nats_server_url: str, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    config = replace(config_of(nats_server_url, nats_namespace), reply_delay_seconds=1.0)
    nc = await nats.connect(nats_server_url)
    js = nc.jetstream()
    conversation_id = unique_id("c-")
    try:
        async with AsyncExitStack() as first:
            await bootstrap(config, first)
            sent = [
                await publish_customer_message(js, topology, text, conversation_id=conversation_id)
                for text in ("one", "two")
            ]
            await eventually(lambda: consumer_idle(js, topology))
        # Stopped before the delay was over: nothing answered yet.
        assert await drafts_on(js, topology) == []
        async with AsyncExitStack() as second:
            await bootstrap(config, second)

            async def drafted() -> bool:
                return len(await drafts_on(js, topology)) >= 1

            await eventually(drafted, timeout=15)
            await asyncio.sleep(1.5)
        (draft,) = await drafts_on(js, topology)
    finally:
        await nc.close()
    assert list(draft.covered_message_ids) == sent


async def test_two_responders_answer_each_burst_exactly_once(
    nats_server_url: str, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    config = replace(config_of(nats_server_url, nats_namespace), reply_delay_seconds=0.5)
    nc = await nats.connect(nats_server_url)
    js = nc.jetstream()
    conversations = [unique_id("c-") for _ in range(20)]
    try:
        async with AsyncExitStack() as stack:
            await bootstrap(config, stack)
            await bootstrap(config, stack)
            sent: dict[str, list[str]] = {c: [] for c in conversations}
            for round_ in range(3):
                for conversation_id in conversations:
                    sent[conversation_id].append(
                        await publish_customer_message(
                            js, topology, f"message {round_}", conversation_id=conversation_id
                        )
                    )

            async def all_answered() -> bool:
                covered = {m for d in await drafts_on(js, topology) for m in d.covered_message_ids}
                return covered >= {m for ms in sent.values() for m in ms}

            await eventually(all_answered, timeout=30)
            await asyncio.sleep(1.5)  # longer than the delay: a second answer would be out
            drafts = await drafts_on(js, topology)
    finally:
        await nc.close()
    covered = [m for d in drafts for m in d.covered_message_ids]
    assert sorted(covered) == sorted(m for ms in sent.values() for m in ms)  # each once
    assert {d.conversation_id for d in drafts} == set(conversations)
