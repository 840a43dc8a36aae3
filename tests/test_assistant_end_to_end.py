"""The assistant through all five services and the WhatsApp sandbox, with a real model SDK:
the customer writes, the model (a local OpenAI-protocol server) answers with quick-reply
buttons, and the sandbox receives an interactive button message."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Platform
from tests.openai_assistant import openai_assistant
from tests.test_end_to_end import customer_number, customer_writes
from threadline.ai_responder.application.ports import AssistantModel
from threadline.testing import eventually
from threadline.testing.model_servers import OpenAIServer, ToolCallAnswer

SLOTS = {
    "kind": "buttons",
    "text": "Sure! Which day suits you?",
    "options": [
        {"id": "tue-15", "title": "Tuesday 3pm"},
        {"id": "wed-10", "title": "Wednesday 10am"},
    ],
}


@pytest.fixture
async def assistant_model(model_server: OpenAIServer) -> AsyncIterator[AssistantModel]:
    """Overrides tests/conftest.py's: the platform's AI responder talks to `model_server`."""
    async with openai_assistant(model_server) as model:
        yield model


async def test_the_model_answers_with_buttons_and_the_customer_gets_an_interactive_message(
    platform: Platform, model_server: OpenAIServer
) -> None:
    model_server.script(ToolCallAnswer("reply", SLOTS))
    wa_id = customer_number()

    await customer_writes(platform, wa_id, "Can I book a haircut this week?")

    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=20)
    (sent,) = platform.sandbox.outbox.messages(to=wa_id)
    request: Any = sent.request
    assert request["type"] == "interactive"
    interactive = request["interactive"]
    assert interactive["type"] == "button"
    assert interactive["body"] == {"text": "Sure! Which day suits you?"}
    assert [button["reply"] for button in interactive["action"]["buttons"]] == [
        {"id": "tue-15", "title": "Tuesday 3pm"},
        {"id": "wed-10", "title": "Wednesday 10am"},
    ]
    (asked,) = model_server.requests
    assert asked.body["messages"][-1] == {
        "role": "user",
        "content": "Can I book a haircut this week?",
    }
    assert json.dumps(asked.body["tools"]).count('"name": "reply"') == 1
