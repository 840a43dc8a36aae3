"""Issue 12 item 2 through all services: an assistant applied from YAML with an HTTP tool (a
booking against the salon's own system, a local HTTP server, its token named as `${ENV}`); the
customer asks, the model (a local OpenAI-protocol server) calls the tool, reads its result and
replies with it; the salon's system is called once with the token from the AI responder's
environment, and the session records the call on the conversation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_assistant_bursts import stream_of
from tests.test_end_to_end import conversation_of, customer_number, customer_writes
from threadline.ai_responder.application.ports import AssistantModel
from threadline.cli.assistants import apply_assistant
from threadline.cli.endpoints import SessionEndpoint
from threadline.testing import eventually
from threadline.testing.model_servers import OpenAIServer, SlowAnswer, ToolCallAnswer

TOKEN = "salon-token-from-the-environment"
SALON = """\
name: salon
model: openai:gpt-4.1-mini
system_prompt: |
  You are the assistant of Lina's Hair Salon. Book appointments with book_appointment.
reply_delay_seconds: 0.5
business_numbers: ["{number}"]
http_tools:
  - name: book_appointment
    description: Book an appointment at the salon.
    method: POST
    url: {url}/bookings
    headers:
      Authorization: "Bearer ${{SALON_API_TOKEN}}"
    timeout_seconds: 5
    parameters:
      type: object
      properties:
        service: {{type: string, enum: [cut, colour]}}
        day: {{type: string}}
      required: [service, day]
"""


@pytest.fixture
def assistant_model(
    model_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AssistantModel | None]:
    """The AI responder builds the assistant's model from the environment (pointing the
    `openai` SDK at `model_server`) and reads the tool's secret from it at call time."""
    monkeypatch.setenv("OPENAI_BASE_URL", model_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("SALON_API_TOKEN", TOKEN)
    yield None


@pytest.fixture
async def bookings() -> AsyncIterator[tuple[str, list[tuple[str, Any]]]]:
    """The salon's booking system: the url, and each booking with its Authorization header."""
    made: list[tuple[str, Any]] = []

    async def book(request: web.Request) -> web.Response:
        made.append((request.headers.get("Authorization", ""), await request.json()))
        return web.json_response({"booking_id": "B-17", "when": "Tuesday 15:00"}, status=201)

    app = web.Application()
    app.router.add_post("/bookings", book)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", made
    await runner.cleanup()


async def apply_salon(platform: Platform, url: str, tmp_path: Path) -> None:
    path = tmp_path / "salon.yaml"
    path.write_text(SALON.format(number=PHONE_NUMBER_ID, url=url), encoding="utf-8")
    endpoint = SessionEndpoint(f"127.0.0.1:{platform.session_grpc_port}", platform.api_token)
    assert await asyncio.to_thread(apply_assistant, endpoint, path) == 0
    directory = platform.ai_responder.directory
    await eventually(lambda: bool(directory.assistant_for(PHONE_NUMBER_ID).http_tools))


async def recorded_calls(platform: Platform, wa_id: str, count: int) -> list[Any]:
    """The conversation's ToolCallRecorded events, once there are `count` (or after ~10 s)."""
    conversation = await conversation_of(platform, wa_id)
    calls: list[Any] = []
    for _ in range(100):
        events = await stream_of(platform, conversation.conversation.id)
        calls = [e.tool_call_recorded for e in events if e.HasField("tool_call_recorded")]
        if len(calls) >= count:
            break
        await asyncio.sleep(0.1)
    return calls


async def test_the_model_books_through_the_http_tool_and_the_session_records_the_call(
    platform: Platform,
    model_server: OpenAIServer,
    bookings: tuple[str, list[tuple[str, Any]]],
    tmp_path: Path,
) -> None:
    url, made = bookings
    await apply_salon(platform, url, tmp_path)
    model_server.script(
        ToolCallAnswer("book_appointment", {"service": "cut", "day": "tuesday"}),
        ToolCallAnswer("reply", {"kind": "text", "text": "Booked! Your number is B-17."}),
    )
    wa_id = customer_number()

    await customer_writes(platform, wa_id, "Book me a cut on Tuesday please")

    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=20)
    (sent,) = platform.sandbox.outbox.messages(to=wa_id)
    assert sent.request["text"]["body"] == "Booked! Your number is B-17."
    assert made == [(f"Bearer {TOKEN}", {"service": "cut", "day": "tuesday"})]
    first, second = model_server.requests
    assert "book_appointment" in json.dumps(first.body["tools"])
    told = second.body["messages"][-1]
    assert told["role"] == "tool"
    assert json.loads(told["content"])["response"]["booking_id"] == "B-17"

    (call,) = await recorded_calls(platform, wa_id, 1)
    assert (call.tool, call.status, call.http_status) == ("book_appointment", "ok", 201)
    assert json.loads(call.arguments_json) == {"day": "tuesday", "service": "cut"}
    assert call.mutating and not call.replayed
    assert json.loads(call.result_json)["response"]["booking_id"] == "B-17"
    assert TOKEN not in call.result_json and TOKEN not in call.arguments_json


async def test_a_regenerated_reply_does_not_book_again(
    platform: Platform,
    model_server: OpenAIServer,
    bookings: tuple[str, list[tuple[str, Any]]],
    tmp_path: Path,
) -> None:
    url, made = bookings
    await apply_salon(platform, url, tmp_path)
    book = ToolCallAnswer("book_appointment", {"service": "cut", "day": "tuesday"})
    model_server.script(
        book,
        # The first generation reads the booking slowly; the customer writes again meanwhile,
        # so it is discarded and the burst answered anew: the model books again.
        SlowAnswer(1.5, ToolCallAnswer("reply", {"kind": "text", "text": "stale answer"})),
        ToolCallAnswer("book_appointment", {"day": "tuesday", "service": "cut"}),
        ToolCallAnswer("reply", {"kind": "text", "text": "Booked once: B-17."}),
    )
    wa_id = customer_number()

    await customer_writes(platform, wa_id, "Book me a cut on Tuesday")
    await eventually(lambda: len(model_server.requests) == 2, timeout=20)  # reading, slowly
    await customer_writes(platform, wa_id, "at 3pm if you can")

    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=20)
    await asyncio.sleep(1.0)
    (sent,) = platform.sandbox.outbox.messages(to=wa_id)
    assert sent.request["text"]["body"] == "Booked once: B-17."
    assert len(made) == 1  # the salon's system was asked to book once
    assert len(model_server.requests) == 4
    told = model_server.requests[3].body["messages"][-1]
    assert json.loads(told["content"])["response"]["booking_id"] == "B-17"
    first, again = await recorded_calls(platform, wa_id, 2)
    assert (first.replayed, again.replayed) == (False, True)
    assert first.generation_id != again.generation_id
    assert first.result_json == again.result_json
