"""Issue 12 item 2 through all services: an assistant applied from YAML collects the customer's
name and email (`collect:`); the model (a local OpenAI-protocol server) calls
`collect_customer_data` with the customer's words, is told the email was refused with its hint,
asks again, saves it on the next message, and analytics' conversation shows both in its
session_data and the lead its email."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_end_to_end import conversation_of, customer_number, customer_writes
from threadline.ai_responder.application.ports import AssistantModel
from threadline.cli.assistants import apply_assistant
from threadline.cli.endpoints import SessionEndpoint
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.testing import eventually
from threadline.testing.model_servers import OpenAIServer, ToolCallAnswer

SALON = """\
name: salon
model: openai:gpt-4.1-mini
system_prompt: |
  You are the assistant of Lina's Hair Salon. Take the customer's name and email.
reply_delay_seconds: 0.5
business_numbers: ["{number}"]
collect:
  - {{key: name, type: name, required: true}}
  - {{key: email, type: email, label: Email for the booking confirmation, required: true}}
"""


@pytest.fixture
def assistant_model(
    model_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AssistantModel | None]:
    """The AI responder builds the assistant's model from the environment, pointing the
    `openai` SDK at `model_server`."""
    monkeypatch.setenv("OPENAI_BASE_URL", model_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    yield None


async def apply_salon(platform: Platform, tmp_path: Path) -> None:
    path = tmp_path / "salon.yaml"
    path.write_text(SALON.format(number=PHONE_NUMBER_ID), encoding="utf-8")
    endpoint = SessionEndpoint(f"127.0.0.1:{platform.session_grpc_port}", platform.api_token)
    assert await asyncio.to_thread(apply_assistant, endpoint, path) == 0
    directory = platform.ai_responder.directory
    await eventually(lambda: bool(directory.assistant_for(PHONE_NUMBER_ID).collect_fields))


async def shown(platform: Platform, wa_id: str, keys: int) -> pb.Conversation:
    """Analytics' conversation, once its session_data has `keys` keys (or after ~10 s)."""
    for _ in range(100):
        conversation = (await conversation_of(platform, wa_id)).conversation
        if len(json.loads(conversation.session_data_json or "{}")) >= keys:
            break
        await asyncio.sleep(0.1)
    return conversation


async def test_the_model_collects_name_and_email_and_analytics_shows_them(
    platform: Platform, model_server: OpenAIServer, tmp_path: Path
) -> None:
    await apply_salon(platform, tmp_path)
    model_server.script(
        ToolCallAnswer(
            "collect_customer_data", {"name": "maria da silva", "email": "maria at example"}
        ),
        ToolCallAnswer("reply", {"kind": "text", "text": "Thanks Maria! Your email again?"}),
        ToolCallAnswer("collect_customer_data", {"email": "Maria@Example.COM"}),
        ToolCallAnswer("reply", {"kind": "text", "text": "Saved, see you soon!"}),
    )
    wa_id = customer_number()

    await customer_writes(platform, wa_id, "I'm maria da silva, maria at example")
    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=20)
    await customer_writes(platform, wa_id, "Maria@Example.COM")
    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 2, timeout=20)

    first, told_first, _, told_second = model_server.requests
    offered = [t["function"]["name"] for t in first.body["tools"]]
    assert "collect_customer_data" in offered
    refused = json.loads(told_first.body["messages"][-1]["content"])
    assert refused["saved"] == {"name": "Maria da Silva"}
    assert refused["refused"]["email"].startswith("Please send an email address")
    saved = json.loads(told_second.body["messages"][-1]["content"])
    assert saved == {"saved": {"email": "Maria@example.com"}, "refused": {}}
    conversation = await shown(platform, wa_id, 2)
    assert json.loads(conversation.session_data_json) == {
        "name": "Maria da Silva",
        "email": "Maria@example.com",
    }
    assert conversation.lead.email == "Maria@example.com"
    assert conversation.lead.name == "Maria da Silva"  # the name given, not the profile's
