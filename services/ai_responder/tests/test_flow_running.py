"""The flow runner (issue 12 item 3): a conversation's flow takes the customer's bursts before the
model does. The salon's booking flow from its keyword to the booking (a re-ask on a bad date, a
tapped button, the booking tool), a turn taken again after it was superseded (the booking is not
made twice), expiry, a customer asking for a person mid-flow, and a failing tool."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from threadline.ai_responder.adapters.outbound.models import ModelSettings, model_for
from threadline.ai_responder.adapters.outbound.models.offline import OfflineAssistantModel
from threadline.ai_responder.application.flow_running import (
    FlowTurn,
    MemoryFlowStates,
    RunFlows,
    saved_result,
)
from threadline.ai_responder.application.ports import AssistantModel
from threadline.ai_responder.application.tool_calls import CallTools, MemoryLedger
from threadline.ai_responder.application.view_ports import ConversationView, ViewedMessage
from threadline.ai_responder.domain.customer_message import Choice, CustomerMessage
from threadline.ai_responder.domain.directory import AssistantSettings
from threadline.ai_responder.domain.flow_catalog import FlowCatalog
from threadline.ai_responder.domain.flows.engine import FlowStatus
from threadline.ai_responder.domain.http_tools import HttpTool, HttpToolRequest
from threadline.ai_responder.domain.reply_format import ButtonsReply, ListReply, TextReply
from threadline.ai_responder.domain.tool_calls import ToolCalled, ToolResult
from threadline.rules.flow_definition import parse_flow
from threadline.testing.model_servers import OpenAIServer, ToolCallAnswer

SALON_FILE = Path(__file__).resolve().parents[3] / "examples" / "salon" / "booking-flow.yaml"
SALON_JSON = json.dumps(yaml.safe_load(SALON_FILE.read_text()))
LISBON = ZoneInfo("Europe/Lisbon")
START = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # a Thursday
CONVERSATION = "c-1"
NUMBER = "109000000000001"
BOOK = HttpTool(
    name="book_appointment",
    description="Book an appointment at the salon.",
    parameters={
        "type": "object",
        "properties": {k: {"type": "string"} for k in ("name", "service", "date", "time")},
        "required": ["name", "service", "date", "time"],
    },
    method="POST",
    url="http://salon.invalid/bookings",
    mutating=True,
)
SALON_ASSISTANT = AssistantSettings(
    name="salon", version=3, model="offline:threadline-offline-1", http_tools=(BOOK,)
)


@dataclass
class Salon:
    """The salon's booking system: answers each booking with a reference (or fails)."""

    fail: bool = False
    booked: list[dict[str, str]] = field(default_factory=list)

    async def call(self, request: HttpToolRequest) -> ToolResult:
        if self.fail:
            return ToolResult("http_error", http_status=503, detail="the diary is closed")
        self.booked.append(json.loads(request.body or b"{}"))
        return ToolResult("ok", http_status=201, body=json.dumps({"reference": "SAL-0001"}))


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Chat:
    """One customer's conversation, driven through the runner as the responder drives it."""

    runner: RunFlows
    clock: Clock
    said: list[ViewedMessage] = field(default_factory=list)
    # The burst's messages not answered yet (a superseded turn leaves them in the burst).
    burst: list[CustomerMessage] = field(default_factory=list)
    # The assistant's model (reads an answer when an ask says `extract`).
    model: AssistantModel = field(default_factory=OfflineAssistantModel)

    async def writes(self, *texts: str, tap: Choice | None = None) -> FlowTurn | None:
        """The customer's burst; the turn delivered (kept) as the responder delivers it."""
        turn = await self.take(*texts, tap=tap)
        self.burst.clear()
        if turn is not None:
            assert await self.runner.keep(turn)
        return turn

    async def take(self, *texts: str, tap: Choice | None = None) -> FlowTurn | None:
        self.clock.now += timedelta(minutes=1)
        for text in texts or (tap.title if tap else "",):
            number = len(self.said) + 1
            message = CustomerMessage(
                message_id=f"m-{number}",
                conversation_id=CONVERSATION,
                type="interactive" if tap else "text",
                text=text,
                sent_at=self.clock.now,
                choice=tap,
            )
            self.burst.append(message)
            self.said.append(ViewedMessage(number, message.message_id, "customer", text))
        view = ConversationView(CONVERSATION, business_number=NUMBER, messages=tuple(self.said))
        return await self.runner.take(
            self.burst, view=view, assistant=SALON_ASSISTANT, model=self.model
        )


class Calls:
    """Every tool call as the session hears of it (a replayed one too)."""

    def __init__(self) -> None:
        self.called: list[ToolCalled] = []

    async def tool_called(self, called: ToolCalled) -> None:
        self.called.append(called)


def chat(salon: Salon, calls: Calls | None = None) -> Chat:
    catalog = FlowCatalog()
    assert catalog.flow_configured(1, SALON_JSON)
    clock = Clock()
    tools = CallTools(salon, ledger=MemoryLedger(), environment={}, clock=clock, events=calls)
    runner = RunFlows(
        states=MemoryFlowStates(), catalog=catalog, clock=clock, timezone=LISBON, tools=tools
    )
    return Chat(runner, clock)


def texts(turn: FlowTurn | None) -> list[str]:
    assert turn is not None
    return [draft.content[1] for draft in turn.drafts]


async def test_the_salons_booking_flow_from_its_keyword_to_the_booking() -> None:
    salon = Salon()
    talk = chat(salon)

    assert await talk.writes("Hello!") is None  # no trigger: the model answers it

    started = await talk.writes("I would like to book please")
    assert texts(started) == ["Let's book your appointment. What is your name?"]
    assert started is not None
    assert (started.step.step_id, started.step.status) == ("ask_name", FlowStatus.RUNNING)
    assert started.step.expires_at == talk.clock.now + timedelta(minutes=30)
    (draft,) = started.drafts
    assert (draft.author, draft.model, draft.cost) == ("flow", "flow:salon-booking", Decimal(0))
    assert draft.covered_message_ids == ("m-2",) and draft.in_reply_to_message_id == "m-2"
    assert (draft.assistant, draft.assistant_version) == ("salon", 3)

    named = await talk.writes("Ana")
    assert named is not None and isinstance(named.drafts[0].reply, ListReply | ButtonsReply)
    assert named.drafts[0].content[1] == "Thanks, Ana! Which service would you like?"

    await talk.writes(tap=Choice(id="cut", title="Haircut"))
    re_asked = await talk.writes("the day after the apocalypse")
    assert texts(re_asked) == [
        "I could not read that as a day from today on.\n"
        "Which day? (for example 25/12, tomorrow or friday)"
    ]
    assert re_asked is not None and re_asked.step.step_id == "ask_date"
    await talk.writes("tomorrow")
    confirm = await talk.writes("15:30")
    assert texts(confirm) == ["Ana, Haircut on 2026-12-04 at 15:30. Shall I book it?"]
    assert confirm is not None and isinstance(confirm.drafts[0].reply, ButtonsReply)

    booked = await talk.writes(tap=Choice(id="yes", title="Yes, book it"))

    assert texts(booked) == ["Booked! Your reference is SAL-0001. See you on 2026-12-04 at 15:30."]
    assert salon.booked == [
        {"name": "Ana", "service": "cut", "date": "2026-12-04", "time": "15:30"}
    ]
    assert booked is not None and booked.step.status is FlowStatus.COMPLETED
    assert booked.step.session_data == {
        **salon.booked[0],
        "confirm": "yes",
        "booking": "SAL-0001",
    }
    assert booked.hand_off is None
    # Completed: forgotten, and the next message is the model's again.
    assert await talk.writes("thanks!") is None


async def test_a_superseded_turn_is_taken_again_from_the_same_state_without_booking_twice() -> None:
    salon = Salon()
    talk = chat(salon)
    for text in ("book", "Ana", "cut", "tomorrow", "10:00"):
        await talk.writes(text)

    stale = await talk.take("yes")  # generated, then superseded: never delivered nor kept
    again = await talk.writes("and thank you")  # the burst: "yes" and this

    assert stale is not None and again is not None
    assert texts(stale)[0].startswith("Booked! Your reference is SAL-0001")
    assert texts(again) == texts(stale)
    assert len(salon.booked) == 1  # the booking tool was asked once
    assert again.drafts[0].covered_message_ids == ("m-6", "m-7")
    assert again.step.status is FlowStatus.COMPLETED


async def test_a_flow_the_customer_stops_answering_expires_with_its_message() -> None:
    talk = chat(Salon())
    await talk.writes("book an appointment")
    await talk.writes("Ana")
    published: list[FlowTurn] = []

    async def publish(turn: FlowTurn) -> None:
        published.append(turn)

    talk.clock.now += timedelta(minutes=29)
    assert await talk.runner.expire_due(publish) == 0
    talk.clock.now += timedelta(minutes=1)
    assert await talk.runner.expire_due(publish) == 1
    assert await talk.runner.expire_due(publish) == 0  # once

    (expired,) = published
    assert texts(expired) == [
        'Your booking was not finished; write "book" whenever you want to start again.'
    ]
    assert expired.step.status is FlowStatus.EXPIRED
    assert expired.step.session_data == {"name": "Ana"}
    assert expired.drafts[0].in_reply_to_message_id == "m-2"
    assert expired.hand_off is None
    # Ended: a new keyword starts it afresh.
    assert texts(await talk.writes("book")) == ["Let's book your appointment. What is your name?"]


async def test_a_customer_asking_for_a_person_mid_flow_ends_it_and_the_model_answers() -> None:
    talk = chat(Salon())
    await talk.writes("book")

    turn = await talk.writes("I want to talk to a human")

    assert turn is not None and turn.model_answers
    assert turn.drafts == () and turn.hand_off is None
    assert (turn.step.status, turn.step.step_id) == (FlowStatus.HANDED_OFF, "ask_name")
    assert await talk.writes("Ana") is None  # the flow is forgotten


async def test_a_failing_booking_tool_hands_off_the_way_the_flow_says() -> None:
    talk = chat(Salon(fail=True))
    for text in ("book", "Ana", "cut", "tomorrow", "10:00"):
        await talk.writes(text)

    turn = await talk.writes("yes")

    assert texts(turn) == [
        "I could not book it right now; a person from the salon will help you here."
    ]
    assert turn is not None and turn.hand_off is not None
    assert turn.hand_off.reason == "flow salon-booking: the booking tool failed"
    assert turn.step.status is FlowStatus.HANDED_OFF


async def test_a_flow_whose_tool_the_assistant_does_not_have_hands_off() -> None:
    talk = chat(Salon())
    for text in ("book", "Ana", "cut", "tomorrow", "10:00"):
        await talk.writes(text)
    talk.runner._tools = None  # an assistant without the flow's tool

    turn = await talk.writes("yes")

    assert turn is not None and turn.step.status is FlowStatus.HANDED_OFF
    assert turn.hand_off is not None


def test_what_a_flow_keeps_of_a_tools_answer() -> None:
    assert saved_result('{"reference": "SAL-9", "id": 4}') == "SAL-9"
    assert saved_result('{"booking_id": "B-1", "id": 4}') == "4"
    assert saved_result('{"when": "Tuesday"}') == '{"when": "Tuesday"}'
    assert saved_result("  booked  ") == "booked"
    assert saved_result('{"reference": true}') == '{"reference": true}'
    assert len(saved_result("x" * 2000)) <= 500


async def test_a_flow_started_by_its_button_payload_and_refusing_an_old_buttons_tap() -> None:
    talk = chat(Salon())

    started = await talk.writes(tap=Choice(id="book", title="Book now"))
    assert texts(started) == ["Let's book your appointment. What is your name?"]
    await talk.writes("Ana")
    stale_tap = await talk.writes(tap=Choice(id="yes", title="Yes, book it"))

    assert stale_tap is not None and stale_tap.step.step_id == "ask_service"
    assert isinstance(stale_tap.drafts[0].reply, ListReply | ButtonsReply | TextReply)
    assert replace(stale_tap.step, reached_at=START).session_data == {"name": "Ana"}


def test_the_salon_flow_reads() -> None:
    assert parse_flow(json.loads(SALON_JSON)).id == "salon-booking"


EXTRACTING = {
    "id": "visit",
    "name": "Plan a visit",
    "version": 1,
    "language": "en",
    "trigger": {"keywords": ["visit"]},
    "expiry": {"after": "30m"},
    "steps": [
        {
            "id": "ask_day",
            "ask": {
                "field": "day",
                "type": "date",
                "prompt": "Which day?",
                "extract": True,
                "attempts": 2,
            },
        },
        {"id": "done", "end": {"text": "See you on {day}."}},
    ],
}


async def test_an_answer_the_rules_cannot_read_is_read_by_the_model_when_the_ask_says_extract() -> (
    None
):
    catalog = FlowCatalog()
    assert catalog.flow_configured(1, json.dumps(EXTRACTING))
    clock = Clock()
    runner = RunFlows(states=MemoryFlowStates(), catalog=catalog, clock=clock, timezone=LISBON)
    async with OpenAIServer() as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
        model = model_for("openai:gpt-4.1-mini", env, ModelSettings(5.0, 0))
        talk = Chat(runner, clock)
        talk.model = model
        server.script(ToolCallAnswer("extracted", {"value": "2026-12-11"}))

        await talk.writes("I want to visit")
        read = await talk.writes("the friday after next, if that works")
        await model.close()

    assert texts(read) == ["See you on 2026-12-11."]
    (request,) = server.requests
    assert request.body["messages"][-1]["content"] == "the friday after next, if that works"
    assert [t["function"]["name"] for t in request.body["tools"]] == ["extracted"]


LOOKING_UP = {
    "id": "lookup",
    "name": "Look up, then ask",
    "version": 1,
    "language": "en",
    "trigger": {"keywords": ["check"]},
    "expiry": {"after": "30m"},
    "steps": [
        {
            "id": "find",
            "tool": {
                "name": "book_appointment",
                "arguments": {"name": "-", "service": "cut", "date": "-", "time": "-"},
                "save_as": "found",
            },
            "next": "ask_name",
        },
        {"id": "ask_name", "ask": {"field": "name", "type": "name", "prompt": "Name?"}},
        {"id": "ask_city", "ask": {"field": "city", "type": "text", "prompt": "{name}, city?"}},
        {"id": "done", "end": {"text": "Thanks, {name} ({found})."}},
    ],
}


async def test_a_burst_runs_each_tool_step_once_however_many_messages_follow_it() -> None:
    calls = Calls()
    catalog = FlowCatalog()
    assert catalog.flow_configured(1, json.dumps(LOOKING_UP))
    clock = Clock()
    tools = CallTools(Salon(), ledger=MemoryLedger(), environment={}, clock=clock, events=calls)
    runner = RunFlows(
        states=MemoryFlowStates(), catalog=catalog, clock=clock, timezone=LISBON, tools=tools
    )
    talk = Chat(runner, clock)

    # One burst: the keyword starts the flow, whose tool step runs; the name answers the ask
    # after it, and the flow goes on to ask again.
    turn = await talk.writes("check please", "Ana")

    assert texts(turn) == ["Name?", "Ana, city?"]
    assert turn is not None and turn.step.session_data == {"found": "SAL-0001", "name": "Ana"}
    assert [c.tool for c in calls.called] == ["book_appointment"]  # once, not once a message
