"""Issue 12 item 3, flows applied like assistants, through all services: the salon's booking
flow applied with `threadline flows apply` goes through the session (ConfigureFlow, checked by
the shared parser) as a `FlowConfigured` event on SESSION_EVENTS, is listed by `threadline flows
list`, and reaches the AI responder's view of flows (its directory follower); a bad file is
refused naming the path, and applying the file again changes nothing."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from aiohttp import web

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_assistant_bursts import stream_of
from tests.test_end_to_end import conversation_of, customer_number, customer_writes
from threadline.cli.assistants import apply_assistant
from threadline.cli.endpoints import SessionEndpoint
from threadline.cli.flows import apply_flow, list_flows
from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.sandbox.customer import build_inbound_message
from threadline.sandbox.webhooks import post_signed
from threadline.testing import eventually

SALON_FILE = Path(__file__).resolve().parents[1] / "examples" / "salon" / "booking-flow.yaml"


async def flow_events(platform: Platform) -> list[events_pb.SessionEvent]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.session_grpc_port}") as channel:
        log = pb_grpc.EventLogStub(channel)
        read = log.ReadAll(pb.ReadAllRequest(from_position=1), metadata=platform.auth)
        found = [event async for event in read]
    return [event for event in found if event.WhichOneof("body") == "flow_configured"]


async def test_the_salon_flow_applied_with_the_cli_reaches_the_ai_responders_view(
    platform: Platform, tmp_path: Path
) -> None:
    endpoint = SessionEndpoint(f"127.0.0.1:{platform.session_grpc_port}", platform.api_token)
    out = io.StringIO()

    applied = await asyncio.to_thread(apply_flow, endpoint, SALON_FILE, out=out)
    again = await asyncio.to_thread(apply_flow, endpoint, SALON_FILE, out=out)
    listed = io.StringIO()
    await asyncio.to_thread(list_flows, endpoint, out=listed)

    assert (applied, again) == (0, 0)
    assert out.getvalue() == "created salon-booking v1\nunchanged salon-booking v1\n"
    assert listed.getvalue().splitlines()[1].split()[:5] == [
        *("salon-booking", "v1", "1", "keyword,button_payload,assistant", "all"),
    ]
    [event] = await flow_events(platform)
    assert (event.event_type, event.flow_configured.id) == ("Flow.Defined", "salon-booking")
    flows = platform.ai_responder.directory.flows
    await eventually(lambda: flows.flow("salon-booking") is not None)
    kept = flows.flow("salon-booking")
    assert kept is not None and kept.version == 1
    assert [d.id for d in flows.flows_for(PHONE_NUMBER_ID)] == ["salon-booking"]
    assert kept.definition.first_step.id == "ask_name"


async def test_a_changed_flow_replaces_the_view_and_a_bad_one_is_refused_naming_the_path(
    platform: Platform, tmp_path: Path
) -> None:
    endpoint = SessionEndpoint(f"127.0.0.1:{platform.session_grpc_port}", platform.api_token)
    salon = SALON_FILE.read_text(encoding="utf-8")
    path = tmp_path / "booking-flow.yaml"
    path.write_text(salon, encoding="utf-8")
    assert await asyncio.to_thread(apply_flow, endpoint, path, out=io.StringIO()) == 0
    path.write_text(salon.replace("after: 30m", "after: 2h"), encoding="utf-8")
    assert await asyncio.to_thread(apply_flow, endpoint, path, out=io.StringIO()) == 0
    path.write_text(salon.replace("next: booked", "next: bookd"), encoding="utf-8")
    err = io.StringIO()

    refused = await asyncio.to_thread(apply_flow, endpoint, path, err=err)

    assert refused == 2
    assert f"{path}: steps[6].next: unknown step 'bookd'" in err.getvalue()
    flows = platform.ai_responder.directory.flows
    await eventually(lambda: getattr(flows.flow("salon-booking"), "version", 0) == 2)
    kept = flows.flow("salon-booking")
    assert kept is not None and kept.definition.expiry.after.total_seconds() == 7200
    assert [event.flow_configured.version for event in await flow_events(platform)] == [1, 2]


# --- a whole booking through all services (issue 12 "Tests") -----------------------------------

SALON_ASSISTANT = """\
name: salon
model: offline:threadline-offline-1
system_prompt: You are the assistant of Lina's Hair Salon.
reply_delay_seconds: 0.2
business_numbers: ["{number}"]
http_tools:
  - name: book_appointment
    description: Book an appointment at the salon.
    method: POST
    url: {url}/bookings
    timeout_seconds: 5
    parameters:
      type: object
      properties:
        name: {{type: string}}
        service: {{type: string}}
        date: {{type: string}}
        time: {{type: string}}
      required: [name, service, date, time]
"""


@pytest.fixture
async def salon_diary() -> AsyncIterator[tuple[str, list[Any]]]:
    """The salon's booking system, a local HTTP server: its url and each booking made."""
    made: list[Any] = []

    async def book(request: web.Request) -> web.Response:
        made.append(await request.json())
        return web.json_response({"reference": f"SAL-{len(made):04d}"}, status=201)

    app = web.Application()
    app.router.add_post("/bookings", book)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", made
    await runner.cleanup()


async def salon_configured(platform: Platform, url: str, tmp_path: Path, flow: str = "") -> None:
    endpoint = SessionEndpoint(f"127.0.0.1:{platform.session_grpc_port}", platform.api_token)
    assistant = tmp_path / "salon.yaml"
    assistant.write_text(SALON_ASSISTANT.format(number=PHONE_NUMBER_ID, url=url), encoding="utf-8")
    booking = tmp_path / "booking-flow.yaml"
    booking.write_text(flow or SALON_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    assert await asyncio.to_thread(apply_assistant, endpoint, assistant, out=io.StringIO()) == 0
    assert await asyncio.to_thread(apply_flow, endpoint, booking, out=io.StringIO()) == 0
    directory = platform.ai_responder.directory
    await eventually(lambda: bool(directory.assistant_for(PHONE_NUMBER_ID).http_tools))
    await eventually(lambda: directory.flows.flow("salon-booking") is not None)


async def customer_taps(platform: Platform, wa_id: str, option_id: str, title: str) -> None:
    """The customer taps a quick-reply button the business sent."""
    content = {
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": option_id, "title": title}},
    }
    payload = build_inbound_message(PHONE_NUMBER_ID, "15550000077", wa_id, "Ana Souza", content)
    async with aiohttp.ClientSession() as http:
        assert await post_signed(http, platform.webhook_url, payload, platform.app_secret) == 200


class Customer:
    """One customer's side of the chat: what they say, and each message the business sends."""

    def __init__(self, platform: Platform) -> None:
        self.platform, self.wa_id, self.seen = platform, customer_number(), 0

    async def writes(self, text: str) -> None:
        await customer_writes(self.platform, self.wa_id, text)

    async def taps(self, option_id: str, title: str) -> None:
        await customer_taps(self.platform, self.wa_id, option_id, title)

    async def receives(self) -> dict[str, Any]:
        """The next message sent to the customer (its Cloud API request)."""
        outbox = self.platform.sandbox.outbox
        await eventually(lambda: len(outbox.messages(to=self.wa_id)) > self.seen, timeout=20)
        self.seen += 1
        return dict(outbox.messages(to=self.wa_id)[self.seen - 1].request)


def body_of(request: dict[str, Any]) -> str:
    if request["type"] == "text":
        return str(request["text"]["body"])
    return str(request["interactive"]["body"]["text"])


async def flow_steps(platform: Platform, wa_id: str) -> list[Any]:
    conversation = await conversation_of(platform, wa_id)
    events = await stream_of(platform, conversation.conversation.id)
    return [e.flow_step_reached for e in events if e.HasField("flow_step_reached")]


async def test_a_whole_booking_through_the_flow_with_a_re_ask_buttons_and_the_booking_tool(
    platform: Platform, salon_diary: tuple[str, list[Any]], tmp_path: Path
) -> None:
    url, made = salon_diary
    await salon_configured(platform, url, tmp_path)
    ana = Customer(platform)
    day = datetime.now(UTC).date() + timedelta(days=10)

    await ana.writes("Hi, can I book an appointment?")
    assert body_of(await ana.receives()) == "Let's book your appointment. What is your name?"
    await ana.writes("Ana")
    services = await ana.receives()
    assert body_of(services) == "Thanks, Ana! Which service would you like?"
    assert [b["reply"]["id"] for b in services["interactive"]["action"]["buttons"]] == [
        *("cut", "color", "nails"),
    ]
    await ana.taps("cut", "Haircut")
    assert body_of(await ana.receives()).startswith("Which day?")
    await ana.writes("when pigs fly")
    assert body_of(await ana.receives()).startswith("I could not read that as a day from today on.")
    await ana.writes(day.strftime("%d/%m"))
    assert body_of(await ana.receives()) == "At what time? We are open 9:00-19:00."
    await ana.writes("15:30")
    confirm = await ana.receives()
    assert body_of(confirm) == f"Ana, Haircut on {day.isoformat()} at 15:30. Shall I book it?"
    await ana.taps("yes", "Yes, book it")

    booked = await ana.receives()

    assert body_of(booked) == (
        f"Booked! Your reference is SAL-0001. See you on {day.isoformat()} at 15:30."
    )
    assert made == [{"name": "Ana", "service": "cut", "date": day.isoformat(), "time": "15:30"}]
    steps = await flow_steps(platform, ana.wa_id)
    assert [s.step_id for s in steps][:2] == ["ask_name", "ask_service"]
    last = steps[-1]
    assert (last.flow_id, last.step_id, last.completed, last.status) == (
        *("salon-booking", "booked", True, "completed"),
    )
    assert json.loads(last.session_data_json) == {
        **made[0],
        "confirm": "yes",
        "booking": "SAL-0001",
    }
    # The flow's messages are the flow's, not the AI's.
    conversation = await conversation_of(platform, ana.wa_id)
    authors = {m.author for m in conversation.messages if m.role == "assistant"}
    assert authors == {"flow"}


async def test_a_flow_left_unanswered_expires_the_way_it_says(
    platform: Platform, salon_diary: tuple[str, list[Any]], tmp_path: Path
) -> None:
    url, _ = salon_diary
    quick = SALON_FILE.read_text(encoding="utf-8").replace("after: 30m", "after: 1s")
    await salon_configured(platform, url, tmp_path, flow=quick)
    ana = Customer(platform)

    await ana.writes("book")
    assert body_of(await ana.receives()).endswith("What is your name?")

    expired = await ana.receives()  # nothing said: the flow expires after a second

    assert body_of(expired) == (
        'Your booking was not finished; write "book" whenever you want to start again.'
    )
    steps = await flow_steps(platform, ana.wa_id)
    assert (steps[-1].status, steps[-1].completed) == ("expired", False)
