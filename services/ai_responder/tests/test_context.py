"""What the model reads of a conversation (issue 10 item 3): the history within the context
budget, the memory of earlier conversations within its share, each kind of message readable;
and, over real NATS with a local OpenAI-protocol server, the responder's own view of the
conversation and of the customer's earlier one, kept from the session's events."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import nats
import pytest
from nats.js import JetStreamContext

from threadline.ai_responder.adapters.inbound.business_messages import outbound_text
from threadline.ai_responder.adapters.outbound.models import ModelSettings, model_for
from threadline.ai_responder.application.model_request import (
    MEMORY_SHARE,
    estimate_tokens,
    model_request,
    what_the_customer_said,
)
from threadline.ai_responder.application.ports import (
    ASSISTANT,
    CUSTOMER,
    EarlierConversation,
    History,
    SaidTurn,
    Turn,
)
from threadline.ai_responder.bootstrap import bootstrap
from threadline.ai_responder.config import AiResponderConfig
from threadline.ai_responder.domain.customer_message import Choice, CustomerMessage
from threadline.contracts.events.v1 import ai_pb2, common_pb2
from threadline.contracts.events.v1 import session_pb2 as events
from threadline.messaging.topology import AI_EVENTS, SESSION_EVENT, Topology
from threadline.servicekit.config import ConfigError
from threadline.testing import eventually, unique_id
from threadline.testing.model_servers import OpenAIServer, TextAnswer

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def message(text: str, *, message_id: str = "m-now", kind: str = "text") -> CustomerMessage:
    return CustomerMessage(message_id, "conv-1", kind, text, NOW, customer_name="Ana Souza")


def said(n: int, text: str) -> SaidTurn:
    return SaidTurn(f"m-{n}", Turn(CUSTOMER if n % 2 == 0 else ASSISTANT, text))


def cost(turns: tuple[Turn, ...]) -> int:
    return sum(estimate_tokens(t.text) for t in turns)


def test_the_newest_turns_that_fit_the_budget_are_kept_and_the_current_message_last() -> None:
    history = History(turns=tuple(said(n, f"turn {n:03d} " + "x" * 90) for n in range(200)))

    request = model_request(
        message("and now?"), business_prompt="", history=history, max_context_tokens=1000
    )

    assert request.turns[-1] == Turn(CUSTOMER, "and now?")
    assert cost(request.turns) <= 1000
    assert request.turns[-2].text.startswith("turn 199 ")
    assert request.turns[0].role == CUSTOMER  # a model's conversation opens with the user
    assert 10 < len(request.turns) < 200


def test_the_message_being_answered_is_not_told_twice() -> None:
    history = History(turns=(said(0, "hello"), SaidTurn("m-now", Turn(CUSTOMER, "hello again"))))

    request = model_request(message("hello again"), business_prompt="", history=history)

    assert request.turns == (Turn(CUSTOMER, "hello"), Turn(CUSTOMER, "hello again"))


def test_the_current_messages_always_go_whatever_they_cost() -> None:
    long = "y" * 10_000
    history = History(turns=(said(0, "earlier"),))

    request = model_request(
        message(long),
        business_prompt="",
        history=history,
        also=(message("first", message_id="m-first"),),
        max_context_tokens=200,
    )

    assert request.turns == (Turn(CUSTOMER, "first"), Turn(CUSTOMER, long))


def test_the_memory_is_the_newest_earlier_turns_within_its_share() -> None:
    earlier = EarlierConversation(
        "conv-0",
        NOW - timedelta(days=30),
        tuple(Turn(CUSTOMER, f"old {n:02d} " + "z" * 60) for n in range(20)),
    )
    history = History((said(0, "hi"),), "Ana Souza", "109", (earlier,))

    request = model_request(
        message("again"), business_prompt="Be kind.", history=history, max_context_tokens=1000
    )

    prompt = request.system_prompt
    assert prompt.startswith("Be kind.")
    assert "You are talking with the customer Ana Souza" in prompt and "number 109" in prompt
    assert "Earlier conversation (2026-11-04):" in prompt
    assert "customer: old 19 " in prompt and "old 00 " not in prompt
    memory = prompt[prompt.index("What you remember") :]
    assert estimate_tokens(memory) <= 1000 // MEMORY_SHARE
    assert request.turns == (Turn(CUSTOMER, "hi"), Turn(CUSTOMER, "again"))


def test_each_kind_of_customer_message_reads_as_text() -> None:
    location = message("41.15,-8.61", kind="location")
    photo = message("my broken screen", kind="image")
    voice = message("", kind="audio")
    tap = CustomerMessage(
        "m-2", "conv-1", "interactive", '[chose "Tuesday"...]', NOW, choice=Choice("tue", "Tue")
    )

    assert what_the_customer_said(location) == "[location: https://maps.google.com/?q=41.15,-8.61]"
    assert what_the_customer_said(photo) == "[the customer sent image: my broken screen]"
    assert what_the_customer_said(voice) == "[the customer sent audio without any text]"
    assert what_the_customer_said(tap) == '[chose "Tuesday"...]'


def test_the_assistants_interactive_messages_read_as_their_body_and_options() -> None:
    asked = common_pb2.MessageContent(
        type="interactive",
        text="Which day?",
        payload_json=json.dumps(
            {
                "type": "button",
                "body": {"text": "Which day?"},
                "action": {
                    "buttons": [{"type": "reply", "reply": {"id": "tue", "title": "Tuesday 3pm"}}]
                },
            }
        ),
    )
    link = common_pb2.MessageContent(
        type="interactive",
        text="Our prices",
        payload_json=json.dumps(
            {
                "type": "cta_url",
                "body": {"text": "Our prices"},
                "action": {
                    "name": "cta_url",
                    "parameters": {"display_text": "See prices", "url": "https://x.test/p"},
                },
            }
        ),
    )

    assert outbound_text(asked) == 'Which day? [options: "Tuesday 3pm" (tue)]'
    assert outbound_text(link) == 'Our prices [link "See prices": https://x.test/p]'
    assert outbound_text(common_pb2.MessageContent(type="text", text="Hi")) == "Hi"


def test_the_context_budget_is_a_setting() -> None:
    config = AiResponderConfig.from_env({"THREADLINE_AI_MAX_CONTEXT_TOKENS": "8000"})
    assert config.max_context_tokens == 8000
    with pytest.raises(ConfigError, match="THREADLINE_AI_MAX_CONTEXT_TOKENS"):
        AiResponderConfig.from_env({"THREADLINE_AI_MAX_CONTEXT_TOKENS": "10"})


@pytest.fixture
async def model_server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as server:
        yield server


class Session:
    """Publishes conversation events as the session does (positions in order)."""

    def __init__(self, js: JetStreamContext, topology: Topology) -> None:
        self._js, self._topology, self._position = js, topology, 0

    async def publish(self, event: events.SessionEvent, name: str) -> None:
        self._position += 1
        event.event_id = unique_id("e-")
        event.position = self._position
        event.occurred_at.FromDatetime(datetime.now(UTC))
        subject = self._topology.publish_subject(
            SESSION_EVENT, aggregate="Conversation", event=name
        )
        await self._js.publish(subject, event.SerializeToString())

    async def started(self, conversation_id: str, contact_id: str, number: str) -> None:
        event = events.SessionEvent(aggregate_id=conversation_id)
        event.conversation_started.contact_id = contact_id
        event.conversation_started.phone_number_id = number
        event.conversation_started.customer.profile_name = "Ana Souza"
        await self.publish(event, "Started")

    async def customer(self, conversation_id: str, text: str) -> str:
        event = events.SessionEvent(aggregate_id=conversation_id)
        received = event.customer_message_received
        received.message_id = unique_id("m-")
        received.content.CopyFrom(common_pb2.MessageContent(type="text", text=text))
        received.sent_at.FromDatetime(datetime.now(UTC))
        await self.publish(event, "CustomerMessageReceived")
        return received.message_id

    async def business(self, conversation_id: str, text: str) -> None:
        event = events.SessionEvent(aggregate_id=conversation_id)
        queued = event.outbound_message_queued
        queued.message_id = unique_id("o-")
        queued.content.CopyFrom(common_pb2.MessageContent(type="text", text=text))
        await self.publish(event, "OutboundMessageQueued")


async def drafts(js: JetStreamContext, topology: Topology) -> list[ai_pb2.ReplyDrafted]:
    stream = topology.stream(AI_EVENTS)
    info = await js.stream_info(stream)
    found = []
    for sequence in range(1, info.state.last_seq + 1):
        message = await js.get_msg(stream, sequence)
        if (message.subject or "").endswith(".ReplyDrafted"):
            found.append(ai_pb2.ReplyDrafted.FromString(message.data))
    return found


async def test_the_model_reads_the_conversation_and_the_earlier_one_from_the_responders_view(
    nats_server_url: str, nats_namespace: str, model_server: OpenAIServer
) -> None:
    config = AiResponderConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        ops_port=0,
        reply_delay_seconds=1.0,  # long enough for the three events of the burst below
    )
    env = {"OPENAI_BASE_URL": model_server.base_url, "OPENAI_API_KEY": "sk-test"}
    model_server.script(TextAnswer("Hello Ana!"), TextAnswer("Tuesday it is."))
    topology = Topology(nats_namespace)
    contact, number = unique_id("contact-"), "109000000000001"
    earlier, now = str(uuid.uuid4()), str(uuid.uuid4())
    nc = await nats.connect(nats_server_url)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(nc.close)
        model = model_for("openai:gpt-4.1-mini", env, ModelSettings(timeout_seconds=10.0))
        stack.push_async_callback(model.close)
        await bootstrap(config, stack, model=model)
        js = nc.jetstream()
        session = Session(js, topology)
        await session.started(earlier, contact, number)
        await session.customer(earlier, "My name is Ana, I like mornings")

        async def answered(n: int) -> bool:
            return len(await drafts(js, topology)) >= n

        await eventually(lambda: answered(1), timeout=15)
        await session.business(earlier, "Hello Ana!")
        await session.started(now, contact, number)
        await session.customer(now, "Can I book?")
        await session.business(now, "Which day?")
        last = await session.customer(now, "Tuesday")
        await eventually(lambda: answered(2), timeout=15)
        second = (await drafts(js, topology))[1]

    assert second.in_reply_to_message_id == last
    assert len(second.covered_message_ids) == 2  # "Can I book?" and "Tuesday": one burst
    asked = model_server.requests[1].body["messages"]
    system = asked[0]["content"]
    assert "the customer Ana Souza" in system and number in system
    assert "customer: My name is Ana, I like mornings" in system  # the earlier conversation
    assert "you: Hello Ana!" in system
    turns = [(m["role"], m["content"]) for m in asked[1:]]
    assert turns == [("user", "Can I book?"), ("assistant", "Which day?"), ("user", "Tuesday")]
