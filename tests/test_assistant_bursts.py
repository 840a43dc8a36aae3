"""Issue 10's "done when", through all services and the WhatsApp sandbox: an assistant applied
from YAML (`threadline assistants apply`) with an `openai:` model, the platform pointed at a
local OpenAI-protocol server by `OPENAI_BASE_URL` (the SDK path a deployment takes); a customer
who sends three quick messages gets exactly one reply, in the format the model chose, after the
read receipt with the typing indicator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_end_to_end import conversation_of, customer_number, customer_writes
from threadline.ai_responder.application.ports import AssistantModel
from threadline.cli.assistants import apply_assistant
from threadline.cli.endpoints import SessionEndpoint
from threadline.contracts.analytics.v1 import analytics_pb2 as analytics_pb
from threadline.contracts.session.v1 import session_pb2 as session_pb
from threadline.contracts.session.v1 import session_pb2_grpc as session_grpc
from threadline.testing import eventually
from threadline.testing.model_servers import OpenAIServer, SlowAnswer, ToolCallAnswer

SALON = """\
name: salon
model: openai:gpt-4.1-mini
system_prompt: |
  You are the assistant of Lina's Hair Salon. Be brief and friendly.
language: en
reply_delay_seconds: {delay}
business_numbers: ["{number}"]
"""
CHOICE = {
    "kind": "buttons",
    "text": "Tuesday works! Which time?",
    "options": [{"id": "tue-15", "title": "3pm"}, {"id": "tue-17", "title": "5pm"}],
}


@pytest.fixture
def assistant_model(
    model_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AssistantModel | None]:
    """No model handed in: the AI responder builds each assistant's model from its name and the
    process environment, here pointing the `openai` SDK at `model_server`."""
    monkeypatch.setenv("OPENAI_BASE_URL", model_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    yield None


async def apply_salon(platform: Platform, tmp_path: Path, *, delay: float = 1.5) -> None:
    path = tmp_path / "salon.yaml"
    path.write_text(SALON.format(number=PHONE_NUMBER_ID, delay=delay), encoding="utf-8")
    endpoint = SessionEndpoint(f"127.0.0.1:{platform.session_grpc_port}", platform.api_token)
    assert await asyncio.to_thread(apply_assistant, endpoint, path) == 0
    directory = platform.ai_responder.directory
    await eventually(lambda: directory.assistant_for(PHONE_NUMBER_ID).name == "salon")


async def test_three_quick_messages_get_one_reply_in_the_models_format_after_typing(
    platform: Platform, model_server: OpenAIServer, tmp_path: Path
) -> None:
    await apply_salon(platform, tmp_path)
    model_server.script(ToolCallAnswer("reply", CHOICE))
    wa_id = customer_number()

    wamids = [
        await customer_writes(platform, wa_id, text)
        for text in ("hi!", "can I book a haircut", "on Tuesday?")
    ]

    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=20)
    await asyncio.sleep(2.0)  # longer than the reply delay: a second reply would be out by now
    (sent,) = platform.sandbox.outbox.messages(to=wa_id)
    request: Any = sent.request
    assert request["type"] == "interactive" and request["interactive"]["type"] == "button"
    # The last message shown as read, with "typing…", before the reply; no receipt for the
    # others (one answer, one indicator).
    (receipt,) = platform.sandbox.outbox.read_receipts(phone_number_id=PHONE_NUMBER_ID)
    assert (receipt.message_id, receipt.typing) == (wamids[-1], True)
    assert receipt.sequence < sent.sequence
    (asked,) = model_server.requests
    assert asked.body["model"] == "gpt-4.1-mini"
    system = asked.body["messages"][0]["content"]
    assert system.startswith("You are the assistant of Lina's Hair Salon.")
    turns = [(m["role"], m["content"]) for m in asked.body["messages"][1:]]
    assert turns == [("user", "hi!"), ("user", "can I book a haircut"), ("user", "on Tuesday?")]
    assert json.dumps(asked.body["tools"]).count('"name": "reply"') == 1
    # The conversation shows the assistant, tokens and cost; the reply its version and usage.
    conversation = await eventually_priced(platform, wa_id)
    assert conversation.conversation.assistant == "salon"
    assert conversation.conversation.tokens >= 19  # the server's 12 in + 7 out
    assert conversation.conversation.cost > 0  # gpt-4.1-mini's price (genai-prices)
    messages = await platform.analytics.ListMessages(
        analytics_pb.ListMessagesRequest(conversation_id=conversation.conversation.id),
        metadata=platform.auth,
    )
    (reply,) = [m for m in messages.messages if m.author == "ai"]
    usage = json.loads(reply.metadata_json)
    assert (usage["assistant"], usage["assistant_version"], usage["model"]) == (
        "salon",
        1,
        "openai:gpt-4.1-mini",
    )
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (12, 7)
    assert usage["llm_cost"] > 0


async def eventually_priced(platform: Platform, wa_id: str) -> Any:
    """The conversation once analytics has projected its AI reply."""
    found: Any = None

    async def projected() -> bool:
        nonlocal found
        found = await conversation_of(platform, wa_id)
        return bool(found.conversation.assistant)

    await eventually(projected)
    return found


def session_commands(platform: Platform) -> tuple[Any, grpc.aio.Channel]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{platform.session_grpc_port}")
    return session_grpc.SessionCommandsStub(channel), channel


async def test_with_the_autopilot_off_the_model_is_never_called(
    platform: Platform, model_server: OpenAIServer, tmp_path: Path
) -> None:
    await apply_salon(platform, tmp_path, delay=0.1)  # a model that would answer
    model_server.script(ToolCallAnswer("reply", {"kind": "text", "text": "Hello!"}))
    commands, channel = session_commands(platform)
    async with channel:
        await commands.SetAutopilot(
            session_pb.SetAutopilotRequest(phone_number_id=PHONE_NUMBER_ID, enabled=False),
            metadata=platform.auth,
        )
    directory = platform.ai_responder.directory
    await eventually(lambda: not directory.autopilot(PHONE_NUMBER_ID))
    wa_id = customer_number()

    await customer_writes(platform, wa_id, "hello, anyone there?")

    await eventually(lambda: conversation_recorded(platform, wa_id))
    await asyncio.sleep(1.0)  # many times the reply delay the test platform runs with
    assert model_server.requests == []
    assert platform.sandbox.outbox.messages(to=wa_id) == []


async def test_a_conversation_a_person_took_over_never_calls_the_model(
    platform: Platform, model_server: OpenAIServer, tmp_path: Path
) -> None:
    await apply_salon(platform, tmp_path, delay=0.1)
    model_server.script(ToolCallAnswer("reply", {"kind": "text", "text": "Hello!"}))
    wa_id = customer_number()
    await customer_writes(platform, wa_id, "hello")
    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=20)
    conversation = await conversation_of(platform, wa_id)
    commands, channel = session_commands(platform)
    async with channel:
        await commands.HandOff(
            session_pb.HandOffRequest(
                conversation_id=conversation.conversation.id, reason="the owner answers"
            ),
            metadata=platform.auth,
        )
    views = platform.ai_responder.views

    async def paused() -> bool:
        view = await views.conversation(conversation.conversation.id)
        return view is not None and view.ai_paused

    await eventually(paused)

    await customer_writes(platform, wa_id, "are you a person now?")

    await eventually(lambda: conversation_recorded(platform, wa_id, messages=3))
    await asyncio.sleep(1.0)
    assert len(model_server.requests) == 1  # the first message's answer only
    assert len(platform.sandbox.outbox.messages(to=wa_id)) == 1


async def conversation_recorded(platform: Platform, wa_id: str, *, messages: int = 1) -> bool:
    """The analytics read model holds the conversation with at least `messages` messages."""
    listed = await platform.analytics.ListConversations(
        analytics_pb.ListConversationsRequest(customer_phone=wa_id), metadata=platform.auth
    )
    return bool(listed.conversations) and listed.conversations[0].message_count >= messages


async def test_a_message_during_generation_supersedes_it_and_one_reply_covers_both(
    platform: Platform, model_server: OpenAIServer, tmp_path: Path
) -> None:
    await apply_salon(platform, tmp_path, delay=0.2)
    model_server.script(
        SlowAnswer(1.5, ToolCallAnswer("reply", {"kind": "text", "text": "stale answer"})),
        ToolCallAnswer("reply", {"kind": "text", "text": "Both answered."}),
    )
    wa_id = customer_number()

    first = await customer_writes(platform, wa_id, "hi")
    await eventually(lambda: len(model_server.requests) == 1)  # generating, slowly
    second = await customer_writes(platform, wa_id, "and one more thing")

    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=20)
    await asyncio.sleep(1.0)
    (sent,) = platform.sandbox.outbox.messages(to=wa_id)
    request: Any = sent.request
    assert request["text"]["body"] == "Both answered."
    assert len(model_server.requests) == 2
    turns = [m["content"] for m in model_server.requests[1].body["messages"][1:]]
    assert turns == ["hi", "and one more thing"]
    # The session recorded the superseded generation (its cost counts), and the reply as
    # covering both messages.
    conversation = await conversation_of(platform, wa_id)
    events = await stream_of(platform, conversation.conversation.id)
    (discarded,) = [e for e in events if e.HasField("assistant_generation_discarded")]
    assert discarded.assistant_generation_discarded.assistant == "salon"
    (queued,) = [e.outbound_message_queued for e in events if e.HasField("outbound_message_queued")]
    received = {
        e.customer_message_received.wamid: e.customer_message_received.message_id
        for e in events
        if e.HasField("customer_message_received")
    }
    assert list(queued.covered_message_ids) == [received[first], received[second]]
    assert (queued.assistant, queued.assistant_version) == ("salon", 1)


async def stream_of(platform: Platform, stream_id: str) -> list[Any]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.session_grpc_port}") as channel:
        log = session_grpc.EventLogStub(channel)
        call = log.ReadStream(
            session_pb.ReadStreamRequest(stream_id=stream_id), metadata=platform.auth
        )
        return [event async for event in call]
