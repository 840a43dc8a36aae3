"""The assistant's context and memory (issue 10 item 3) through the whole platform: the AI
responder reads the conversation's history from the real session (gRPC `EventLog`), and the
model (a local OpenAI-protocol server) is asked with it, within the context budget."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import grpc
import pytest

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.openai_assistant import openai_assistant
from tests.test_end_to_end import conversation_of, customer_number, customer_writes
from threadline.ai_responder.application.ports import AssistantModel
from threadline.contracts.analytics.v1 import analytics_pb2 as analytics_pb
from threadline.contracts.session.v1 import session_pb2 as session_pb
from threadline.contracts.session.v1 import session_pb2_grpc
from threadline.sandbox.customer import send_inbound
from threadline.testing import eventually
from threadline.testing.model_servers import OpenAIServer, TextAnswer

BUDGET = 4000  # THREADLINE_AI_MAX_CONTEXT_TOKENS's default, which the platform runs with


def said(request: Any) -> list[tuple[str, str]]:
    """The conversation's turns in a recorded request, without the system prompt."""
    return [(m["role"], m["content"]) for m in request.body["messages"] if m["role"] != "system"]


def system_prompt(request: Any) -> str:
    (prompt,) = [m["content"] for m in request.body["messages"] if m["role"] == "system"]
    return str(prompt)


async def exchange(
    platform: Platform, server: OpenAIServer, wa_id: str, text: str, answer: str
) -> None:
    """The customer writes `text`, the model answers `answer`, the customer receives it."""
    before = len(platform.sandbox.outbox.messages(to=wa_id))
    server.script(TextAnswer(answer))
    await customer_writes(platform, wa_id, text)
    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == before + 1)


@pytest.fixture
async def assistant_model(model_server: OpenAIServer) -> AsyncIterator[AssistantModel]:
    """Overrides tests/conftest.py's: the platform's AI responder talks to `model_server`."""
    async with openai_assistant(model_server) as model:
        yield model


async def test_the_conversations_earlier_messages_reach_the_model(
    platform: Platform, model_server: OpenAIServer
) -> None:
    wa_id = customer_number()

    await exchange(platform, model_server, wa_id, "Do you cut curly hair?", "Yes, we do!")
    await exchange(platform, model_server, wa_id, "Great, how much is it?", "It is 40 euros.")

    first, second = model_server.requests
    assert said(first) == [("user", "Do you cut curly hair?")]
    assert said(second) == [
        ("user", "Do you cut curly hair?"),
        ("assistant", "Yes, we do!"),
        ("user", "Great, how much is it?"),
    ]
    assert "Ana Souza" in system_prompt(second) and PHONE_NUMBER_ID in system_prompt(second)


async def test_a_returning_customers_new_conversation_remembers_the_earlier_one(
    platform: Platform, model_server: OpenAIServer
) -> None:
    wa_id = customer_number()
    await exchange(
        platform, model_server, wa_id, "I ordered the blue bike, size M.", "Noted, thank you!"
    )
    earlier = await eventually_conversation(platform, wa_id)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.session_grpc_port}") as channel:
        commands = session_pb2_grpc.SessionCommandsStub(channel)
        await commands.UpdateConversationStatus(
            session_pb.UpdateConversationStatusRequest(
                conversation_id=earlier, status="completed", reason="done"
            ),
            metadata=platform.auth,
        )

    await exchange(platform, model_server, wa_id, "Is my bike ready?", "Checking!")

    *_, asked = model_server.requests
    assert said(asked) == [("user", "Is my bike ready?")]
    memory = system_prompt(asked)
    assert "Earlier conversation (" in memory
    assert "customer: I ordered the blue bike, size M." in memory
    assert "you: Noted, thank you!" in memory


async def eventually_conversation(platform: Platform, wa_id: str) -> str:
    found: list[str] = []

    async def listed() -> bool:
        try:
            found.append((await conversation_of(platform, wa_id)).conversation.id)
        except AssertionError:
            return False
        return True

    await eventually(listed)
    return found[-1]


async def test_a_200_message_conversation_sends_a_bounded_context(
    platform: Platform, model_server: OpenAIServer
) -> None:
    """199 messages the assistant does not answer (older than it answers: recorded all the
    same), then one it answers: the model reads the newest that fit the budget, no more."""
    wa_id = customer_number()
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    async with aiohttp.ClientSession() as http:
        for n in range(199):
            status, _ = await send_inbound(
                http,
                platform.webhook_url,
                platform.app_secret,
                phone_number_id=PHONE_NUMBER_ID,
                display_phone_number="15550000077",
                wa_id=wa_id,
                profile_name="Ana Souza",
                text=f"message {n:03d}: " + "a long story about my order " * 4,
                timestamp=two_hours_ago + timedelta(seconds=n),
            )
            assert status == 200
    await eventually(lambda: recorded(platform, wa_id, 199), timeout=30)

    await exchange(platform, model_server, wa_id, "So, where is it?", "On its way!")

    (asked,) = model_server.requests
    turns = said(asked)
    assert turns[-1] == ("user", "So, where is it?")
    assert sum(math.ceil(len(text) / 4) for _, text in turns) <= BUDGET
    assert 20 < len(turns) < 199  # the newest that fit, not all of them
    assert turns[-2][1].startswith("message 198: ")


async def recorded(platform: Platform, wa_id: str, count: int) -> bool:
    try:
        conversation = (await conversation_of(platform, wa_id)).conversation
    except AssertionError:
        return False
    listed = await platform.analytics.ListMessages(
        analytics_pb.ListMessagesRequest(conversation_id=conversation.id, limit=500),
        metadata=platform.auth,
    )
    return len(listed.messages) >= count
