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

import pytest

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_end_to_end import customer_number, customer_writes
from threadline.ai_responder.application.ports import AssistantModel
from threadline.cli.assistants import apply_assistant
from threadline.cli.endpoints import SessionEndpoint
from threadline.testing import eventually
from threadline.testing.model_servers import OpenAIServer, ToolCallAnswer

SALON = """\
name: salon
model: openai:gpt-4.1-mini
system_prompt: |
  You are the assistant of Lina's Hair Salon. Be brief and friendly.
language: en
reply_delay_seconds: 1.5
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


async def apply_salon(platform: Platform, tmp_path: Path) -> None:
    path = tmp_path / "salon.yaml"
    path.write_text(SALON.format(number=PHONE_NUMBER_ID), encoding="utf-8")
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
