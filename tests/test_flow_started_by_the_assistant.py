"""Issue 12 item 3, "the assistant deciding to start it", through all services: the model (a
local OpenAI-protocol server) is offered `start_flow` with the business's flows whose trigger
allows it, calls it beside a short reply, and the customer gets the reply and then the flow's
first question; the flow runs on from there without the model."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_flows_end_to_end import SALON_FILE, Customer, body_of
from threadline.ai_responder.application.ports import AssistantModel
from threadline.cli.assistants import apply_assistant
from threadline.cli.endpoints import SessionEndpoint
from threadline.cli.flows import apply_flow
from threadline.testing import eventually
from threadline.testing.model_servers import OpenAIServer, ToolCallAnswer

ASSISTANT = """\
name: salon
model: openai:gpt-4.1-mini
system_prompt: You are the assistant of Lina's Hair Salon.
reply_delay_seconds: 0.2
business_numbers: ["{number}"]
"""


@pytest.fixture
def assistant_model(
    model_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AssistantModel | None]:
    monkeypatch.setenv("OPENAI_BASE_URL", model_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    yield None


async def test_the_model_starts_the_booking_flow_which_then_asks_on_its_own(
    platform: Platform, model_server: OpenAIServer, tmp_path: Path
) -> None:
    endpoint = SessionEndpoint(f"127.0.0.1:{platform.session_grpc_port}", platform.api_token)
    assistant = tmp_path / "salon.yaml"
    assistant.write_text(ASSISTANT.format(number=PHONE_NUMBER_ID), encoding="utf-8")
    assert await asyncio.to_thread(apply_assistant, endpoint, assistant, out=io.StringIO()) == 0
    assert await asyncio.to_thread(apply_flow, endpoint, SALON_FILE, out=io.StringIO()) == 0
    directory = platform.ai_responder.directory
    await eventually(lambda: directory.assistant_for(PHONE_NUMBER_ID).name == "salon")
    await eventually(lambda: directory.flows.flow("salon-booking") is not None)
    model_server.script(
        ToolCallAnswer("start_flow", {"flow_id": "salon-booking"}, text="Sure, let's do it!")
    )
    ana = Customer(platform)

    await ana.writes("Could I come in for a trim this week?")  # no keyword of the flow's

    assert body_of(await ana.receives()) == "Sure, let's do it!"
    assert body_of(await ana.receives()) == "Let's book your appointment. What is your name?"
    (request,) = model_server.requests
    (offered,) = [t for t in request.body["tools"] if t["function"]["name"] == "start_flow"]
    assert offered["function"]["parameters"]["properties"]["flow_id"]["enum"] == ["salon-booking"]
    await ana.writes("Ana")  # the flow's now, not the model's
    assert body_of(await ana.receives()) == "Thanks, Ana! Which service would you like?"
    assert len(model_server.requests) == 1
