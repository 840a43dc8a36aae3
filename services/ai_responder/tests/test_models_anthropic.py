"""`anthropic:` models through the official SDK against a local Messages-protocol server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from threadline.ai_responder.adapters.outbound.models import ModelSettings, model_for
from threadline.ai_responder.application.ports import (
    AssistantModel,
    ModelRefused,
    ModelRequest,
    ModelUnavailable,
    Tool,
    ToolCall,
    Turn,
    Usage,
)
from threadline.testing.model_servers import AnthropicServer, ErrorAnswer, SlowAnswer, TextAnswer
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
async def server() -> AsyncIterator[AnthropicServer]:
    async with AnthropicServer() as server:
        yield server


def model(server: AnthropicServer, *, timeout: float = 5.0, retries: int = 2) -> AssistantModel:
    env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "sk-ant-test"}
    return model_for("anthropic:claude-sonnet-4-5", env, ModelSettings(timeout, retries))


async def test_a_text_answer_with_usage_counting_cache_reads(server: AnthropicServer) -> None:
    server.script(
        TextAnswer("Tuesday 3pm is free.", input_tokens=120, output_tokens=9, cached_tokens=100)
    )

    answer = await model(server).generate(REQUEST)

    assert answer.text == "Tuesday 3pm is free."
    assert answer.tool_calls == ()
    assert answer.usage == Usage(input_tokens=120, output_tokens=9, cached_tokens=100)
    assert answer.model == "anthropic:claude-sonnet-4-5"


async def test_the_request_carries_system_prompt_turns_tools_and_key(
    server: AnthropicServer,
) -> None:
    server.script(TextAnswer("ok"))

    await model(server).generate(REQUEST)

    (request,) = server.requests
    # The SDK chooses the header (`x-api-key` or, since 2.x, `authorization: Bearer`).
    key = request.headers.get("x-api-key") or request.headers["authorization"]
    assert key.removeprefix("Bearer ") == "sk-ant-test"
    assert "anthropic-version" in request.headers
    assert request.body["model"] == "claude-sonnet-4-5"
    assert request.body["max_tokens"] == 300
    assert request.body["system"] == "You are the assistant of Lina's Hair Salon."
    assert request.body["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Can I book for Tuesday 3pm?"},
    ]
    assert request.body["tools"] == [
        {
            "name": "hand_off",
            "description": "Transfer the conversation to a person.",
            "input_schema": {"type": "object", "properties": {"reason": {"type": "string"}}},
        }
    ]


async def test_a_required_tool_is_asked_for_as_tool_choice_any(server: AnthropicServer) -> None:
    server.script(TextAnswer("ok"), TextAnswer("ok"))

    await model(server).generate(replace(REQUEST, tools=()))
    await model(server).generate(replace(REQUEST, require_tool=True))

    assert "tools" not in server.requests[0].body
    assert "tool_choice" not in server.requests[0].body
    assert server.requests[1].body["tool_choice"] == {"type": "any"}


async def test_a_tool_use_block_comes_back_as_a_tool_call_beside_text(
    server: AnthropicServer,
) -> None:
    server.script(ScriptedToolCall("hand_off", {"reason": "wants a refund"}, text="One moment."))

    answer = await model(server).generate(REQUEST)

    assert answer.text == "One moment."
    assert answer.tool_calls == (ToolCall("hand_off", {"reason": "wants a refund"}, "toolu_1"),)


async def test_a_429_then_an_answer_is_retried(server: AnthropicServer) -> None:
    server.script(
        ErrorAnswer(429, "Number of request tokens has exceeded your rate limit"),
        TextAnswer("after the wait"),
    )

    answer = await model(server).generate(REQUEST)

    assert answer.text == "after the wait"
    assert len(server.requests) == 2


async def test_overloaded_until_the_retries_are_spent_is_unavailable(
    server: AnthropicServer,
) -> None:
    server.script(
        ErrorAnswer(529, "Overloaded"), ErrorAnswer(500, "Internal"), ErrorAnswer(529, "Overloaded")
    )

    with pytest.raises(ModelUnavailable) as raised:
        await model(server, retries=2).generate(REQUEST)

    assert len(server.requests) == 3
    assert raised.value.reason == "HTTP 529: Overloaded"


async def test_a_401_is_refused_at_once(server: AnthropicServer) -> None:
    server.script(ErrorAnswer(401, "invalid x-api-key"))

    with pytest.raises(ModelRefused) as raised:
        await model(server).generate(REQUEST)

    assert len(server.requests) == 1
    assert raised.value.reason == "HTTP 401: invalid x-api-key"


async def test_a_400_is_refused_at_once(server: AnthropicServer) -> None:
    server.script(ErrorAnswer(400, "messages: roles must alternate"))

    with pytest.raises(ModelRefused):
        await model(server).generate(REQUEST)

    assert len(server.requests) == 1


async def test_an_answer_slower_than_the_timeout_is_unavailable(server: AnthropicServer) -> None:
    server.script(SlowAnswer(5, TextAnswer("late")))

    with pytest.raises(ModelUnavailable) as raised:
        await model(server, timeout=0.3, retries=0).generate(REQUEST)

    assert raised.value.reason == "timed out"
