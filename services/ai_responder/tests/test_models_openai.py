"""`openai:` models through the official SDK against a local OpenAI-protocol server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from openai import AsyncOpenAI

from threadline.ai_responder.adapters.outbound.models import ModelSettings, model_for
from threadline.ai_responder.application.ports import (
    AssistantModel,
    ModelRefused,
    ModelRequest,
    ModelUnavailable,
    Tool,
    ToolCall,
    ToolRound,
    Turn,
    Usage,
)
from threadline.ai_responder.domain.vision import Image
from threadline.testing.model_servers import ErrorAnswer, OpenAIServer, SlowAnswer, TextAnswer
from threadline.testing.model_servers import ToolCallAnswer as ScriptedToolCall

HAND_OFF = Tool(
    name="hand_off",
    description="Transfer the conversation to a person.",
    parameters={"type": "object", "properties": {"reason": {"type": "string"}}},
)
REQUEST = ModelRequest(
    system_prompt="You are the assistant of Lina's Hair Salon.",
    turns=(
        Turn("customer", "Hi"),
        Turn("assistant", "Hello! How can I help?"),
        Turn("customer", "Can I book for Tuesday 3pm?"),
    ),
    tools=(HAND_OFF,),
    max_output_tokens=300,
)


@pytest.fixture
async def server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as server:
        yield server


def model(server: OpenAIServer, *, timeout: float = 5.0, retries: int = 2) -> AssistantModel:
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
    return model_for("openai:gpt-4.1-mini", env, ModelSettings(timeout, retries))


async def test_a_text_answer_with_usage_including_cached_tokens(server: OpenAIServer) -> None:
    server.script(
        TextAnswer("Tuesday 3pm is free.", input_tokens=120, output_tokens=9, cached_tokens=100)
    )

    answer = await model(server).generate(REQUEST)

    assert answer.text == "Tuesday 3pm is free."
    assert answer.tool_calls == ()
    assert answer.usage == Usage(input_tokens=120, output_tokens=9, cached_tokens=100)
    assert answer.model == "openai:gpt-4.1-mini"
    assert answer.latency_seconds > 0


async def test_the_request_carries_system_prompt_turns_tools_and_key(server: OpenAIServer) -> None:
    server.script(TextAnswer("ok"))

    await model(server).generate(REQUEST)

    (request,) = server.requests
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["model"] == "gpt-4.1-mini"
    assert request.body["max_completion_tokens"] == 300
    assert request.body["messages"] == [
        {"role": "system", "content": "You are the assistant of Lina's Hair Salon."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Can I book for Tuesday 3pm?"},
    ]
    assert request.body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "hand_off",
                "description": "Transfer the conversation to a person.",
                "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}},
            },
        }
    ]


async def test_the_request_is_the_one_the_sdks_create_would_send(server: OpenAIServer) -> None:
    """The body goes through the client's `post` untransformed: it must be byte for byte what
    `chat.completions.create` sends for the same request, tool rounds and images included."""
    request = replace(
        REQUEST,
        turns=(*REQUEST.turns, Turn("customer", "this one", (Image("image/png", b"\x89PNG"),))),
        require_tool=True,
        tool_rounds=(ToolRound((ToolCall("hand_off", {"reason": "x"}, "call_1"),), ("done",)),),
    )
    server.script(TextAnswer("ok"), TextAnswer("ok"))

    await model(server).generate(request)
    ours = server.requests[0]
    client = AsyncOpenAI(base_url=server.base_url, api_key="sk-test")
    await client.chat.completions.create(**ours.body)
    await client.close()

    theirs = server.requests[1]
    assert ours.body == theirs.body
    assert ours.body["tool_choice"] == "required"
    for header in ("authorization", "content-type", "user-agent", "x-stainless-lang"):
        assert ours.headers[header] == theirs.headers[header], header


async def test_no_tools_means_no_tools_field(server: OpenAIServer) -> None:
    server.script(TextAnswer("ok"))

    await model(server).generate(ModelRequest("Be brief.", (Turn("customer", "hi"),)))

    assert "tools" not in server.requests[0].body
    assert "tool_choice" not in server.requests[0].body


async def test_a_required_tool_is_asked_for_as_tool_choice_required(server: OpenAIServer) -> None:
    server.script(TextAnswer("ok"), TextAnswer("ok"))

    await model(server).generate(REQUEST)
    await model(server).generate(replace(REQUEST, require_tool=True))

    assert "tool_choice" not in server.requests[0].body
    assert server.requests[1].body["tool_choice"] == "required"


async def test_a_tool_call_comes_back_with_parsed_arguments(server: OpenAIServer) -> None:
    server.script(ScriptedToolCall("hand_off", {"reason": "wants a refund"}))

    answer = await model(server).generate(REQUEST)

    assert answer.text == ""
    assert answer.tool_calls == (ToolCall("hand_off", {"reason": "wants a refund"}, "call_1"),)


async def test_a_429_is_retried_and_the_next_answer_is_used(server: OpenAIServer) -> None:
    server.script(ErrorAnswer(429, "Rate limit reached"), TextAnswer("after the wait"))

    answer = await model(server).generate(REQUEST)

    assert answer.text == "after the wait"
    assert len(server.requests) == 2


async def test_500s_until_the_retries_are_spent_is_unavailable(server: OpenAIServer) -> None:
    server.script(*[ErrorAnswer(500, "The server had an error")] * 3, TextAnswer("too late"))

    with pytest.raises(ModelUnavailable) as raised:
        await model(server, retries=2).generate(REQUEST)

    assert len(server.requests) == 3  # one try and two bounded retries
    assert raised.value.reason == "HTTP 500: The server had an error"
    assert raised.value.model == "openai:gpt-4.1-mini"


async def test_a_401_is_refused_at_once(server: OpenAIServer) -> None:
    server.script(ErrorAnswer(401, "Incorrect API key provided"))

    with pytest.raises(ModelRefused) as raised:
        await model(server).generate(REQUEST)

    assert len(server.requests) == 1
    assert "Incorrect API key provided" in raised.value.reason


async def test_an_answer_slower_than_the_timeout_is_unavailable(server: OpenAIServer) -> None:
    server.script(SlowAnswer(5, TextAnswer("late")), SlowAnswer(5, TextAnswer("late")))

    with pytest.raises(ModelUnavailable) as raised:
        await model(server, timeout=0.3, retries=1).generate(REQUEST)

    assert raised.value.reason == "timed out"
    assert len(server.requests) == 2


async def test_a_server_that_is_down_is_unavailable() -> None:
    async with OpenAIServer() as server:
        gone = model(server, retries=0)

    with pytest.raises(ModelUnavailable) as raised:
        await gone.generate(REQUEST)

    assert raised.value.reason.startswith("cannot connect")
