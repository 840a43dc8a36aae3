"""What the model reads of a conversation (issue 10 item 3): the history within the context
budget, the memory of earlier conversations within its share, each kind of message readable;
and, with the session down, the message alone (the service over real NATS and a local
OpenAI-protocol server, the session's address answering nothing)."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import nats
import pytest

from threadline.ai_responder.adapters.outbound.conversation_history import said_turns
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
    tapped = events.SessionEvent(aggregate_id="conv-1")
    received = tapped.customer_message_received
    received.message_id = "m-2"
    received.content.CopyFrom(
        common_pb2.MessageContent(
            type="interactive",
            text="Tuesday 3pm",
            payload_json=json.dumps(
                {"type": "button_reply", "button_reply": {"id": "tue", "title": "Tuesday 3pm"}}
            ),
        )
    )
    asked = events.SessionEvent(aggregate_id="conv-1")
    queued = asked.outbound_message_queued
    queued.message_id = "m-1"
    queued.content.CopyFrom(
        common_pb2.MessageContent(
            type="interactive",
            text="Which day?",
            payload_json=json.dumps(
                {
                    "type": "button",
                    "body": {"text": "Which day?"},
                    "action": {
                        "buttons": [
                            {"type": "reply", "reply": {"id": "tue", "title": "Tuesday 3pm"}}
                        ]
                    },
                }
            ),
        )
    )

    assert said_turns([asked, tapped]) == (
        SaidTurn("m-1", Turn(ASSISTANT, 'Which day? [options: "Tuesday 3pm" (tue)]')),
        SaidTurn("m-2", Turn(CUSTOMER, '[chose "Tuesday 3pm", option id "tue"]')),
    )


def test_the_context_budget_is_a_setting() -> None:
    env = {"THREADLINE_AI_MAX_CONTEXT_TOKENS": "8000", "THREADLINE_AI_SESSION_TOKEN": "t"}
    config = AiResponderConfig.from_env(env)
    assert (config.max_context_tokens, config.session_token) == (8000, "t")
    with pytest.raises(ConfigError, match="THREADLINE_AI_MAX_CONTEXT_TOKENS"):
        AiResponderConfig.from_env({"THREADLINE_AI_MAX_CONTEXT_TOKENS": "10"})


@pytest.fixture
async def model_server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as server:
        yield server


def nothing_listening() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


async def test_with_the_session_down_the_reply_comes_from_the_message_alone(
    nats_server_url: str, nats_namespace: str, model_server: OpenAIServer
) -> None:
    config = AiResponderConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        ops_port=0,
        session_grpc_address=nothing_listening(),
        session_token="token",
    )
    env = {"OPENAI_BASE_URL": model_server.base_url, "OPENAI_API_KEY": "sk-test"}
    model_server.script(TextAnswer("Hello Ana!"))
    topology = Topology(nats_namespace)
    nc = await nats.connect(nats_server_url)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(nc.close)
        model = model_for("openai:gpt-4.1-mini", env, ModelSettings(timeout_seconds=10.0))
        stack.push_async_callback(model.close)
        await bootstrap(config, stack, model=model)
        js = nc.jetstream()
        event = events.SessionEvent(event_id=unique_id("e-"), aggregate_id=str(uuid.uuid4()))
        received = event.customer_message_received
        received.message_id = unique_id("m-")
        received.content.CopyFrom(common_pb2.MessageContent(type="text", text="hi, anyone?"))
        received.sent_at.FromDatetime(datetime.now(UTC))
        subject = topology.publish_subject(
            SESSION_EVENT, aggregate="Conversation", event="CustomerMessageReceived"
        )
        await js.publish(subject, event.SerializeToString())

        async def drafted() -> bool:
            info = await js.stream_info(topology.stream(AI_EVENTS))
            return info.state.last_seq >= 1

        await eventually(drafted, timeout=15)
        draft = ai_pb2.ReplyDrafted.FromString(
            (await js.get_msg(topology.stream(AI_EVENTS), 1)).data
        )

    assert draft.in_reply_to_message_id == received.message_id
    assert draft.content.text == "Hello Ana!"
    (asked,) = model_server.requests
    turns = [m for m in asked.body["messages"] if m["role"] != "system"]
    assert turns == [{"role": "user", "content": "hi, anyone?"}]
