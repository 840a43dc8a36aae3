"""The business's HTTP tools (issue 12 item 2) against a local HTTP server: success with the
URL's placeholder filled and the secret header read from the environment at call time, an HTTP
error, a timeout, a schema violation (the server never called), a connection that fails, a
redirect to another host, a bounded response: each a result the model can read, never an
exception. A booking is not made twice when the reply is regenerated (ledger in memory and in
JetStream KV). The model is asked again with the results through the OpenAI protocol."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from aiohttp import web

from threadline.ai_responder.adapters.outbound.http_tools import AiohttpToolCaller
from threadline.ai_responder.adapters.outbound.models import ModelSettings, model_for
from threadline.ai_responder.adapters.outbound.tool_ledger import KeyValueMutationLedger
from threadline.ai_responder.application.ports import (
    NO_HISTORY,
    History,
    ModelAnswer,
    ModelRequest,
    ToolCall,
    ToolRound,
    Turn,
    Usage,
)
from threadline.ai_responder.application.responder import MAX_TOOL_ROUNDS, Responder
from threadline.ai_responder.application.tool_calls import CallTools, MemoryLedger, MutationLedger
from threadline.ai_responder.config import AiResponderConfig
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.directory import AssistantSettings
from threadline.ai_responder.domain.http_tools import HttpTool, http_tools_from_json
from threadline.ai_responder.domain.tool_calls import ToolCalled
from threadline.testing.model_servers import (
    AnthropicServer,
    OpenAIServer,
    TextAnswer,
    ToolCallAnswer,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
TOKEN = "salon-secret-token"


@dataclass
class Salon:
    """The business's own system: opening hours, bookings (counted), and misbehaviour."""

    url: str = ""
    bookings: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)


@pytest.fixture
async def salon() -> AsyncIterator[Salon]:
    state = Salon()

    async def hours(request: web.Request) -> web.Response:
        state.authorizations.append(request.headers.get("Authorization", ""))
        day = request.match_info["day"]
        return web.json_response({"day": day, "opens": "09:00", "staff": request.query.get("who")})

    async def book(request: web.Request) -> web.Response:
        state.bookings.append(await request.json())
        return web.json_response({"booking_id": len(state.bookings)}, status=201)

    async def book_slowly(request: web.Request) -> web.Response:
        await asyncio.sleep(0.3)
        return await book(request)

    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"error": "the calendar is down"}, status=503)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.json_response({})

    async def elsewhere(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://example.invalid/steal")

    async def big(request: web.Request) -> web.Response:
        return web.Response(text="x" * 300_000)

    app = web.Application()
    app.router.add_get("/hours/{day}", hours)
    app.router.add_post("/bookings", book)
    app.router.add_post("/slow-bookings", book_slowly)
    app.router.add_get("/broken", broken)
    app.router.add_get("/slow", slow)
    app.router.add_get("/elsewhere", elsewhere)
    app.router.add_get("/big", big)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


def tool(salon: Salon, name: str, path: str, **changes: Any) -> HttpTool:
    given: dict[str, Any] = {
        "name": name,
        "description": f"The salon's {name}.",
        "parameters": {"type": "object", "properties": {}},
        "method": "GET",
        "url": f"{salon.url}{path}",
        "headers": {"Authorization": "Bearer ${SALON_API_TOKEN}"},
        "timeout_seconds": 10.0,
    }
    return http_tools_from_json(json.dumps([given | changes]))[0]


def hours(salon: Salon) -> HttpTool:
    return tool(
        salon,
        "opening_hours",
        "/hours/{day}",
        parameters={
            "type": "object",
            "properties": {"day": {"type": "string"}, "who": {"type": "string"}},
            "required": ["day"],
        },
    )


def booking(salon: Salon) -> HttpTool:
    return tool(
        salon,
        "book_appointment",
        "/bookings",
        method="POST",
        parameters={
            "type": "object",
            "properties": {
                "service": {"type": "string", "enum": ["cut", "colour"]},
                "day": {"type": "string"},
            },
            "required": ["service", "day"],
            "additionalProperties": False,
        },
    )


class Told:
    def __init__(self) -> None:
        self.calls: list[ToolCalled] = []

    async def tool_called(self, called: ToolCalled) -> None:
        self.calls.append(called)


@pytest.fixture
async def http() -> AsyncIterator[AiohttpToolCaller]:
    """A caller allowed private addresses: the salon's system is on this machine."""
    caller = AiohttpToolCaller(allow_private_addresses=True, max_response_bytes=65_536)
    yield caller
    await caller.close()


def runner(
    http: AiohttpToolCaller, ledger: MutationLedger | None = None, told: Told | None = None
) -> CallTools:
    return CallTools(
        http,
        ledger=ledger or MemoryLedger(),
        environment={"SALON_API_TOKEN": TOKEN},
        clock=lambda: NOW,
        events=told,
    )


async def run(calls: CallTools, http_tool: HttpTool, **arguments: Any) -> Any:
    result = await calls.run(
        http_tool,
        ToolCall(http_tool.name, arguments, call_id="call_1"),
        conversation_id="conv-1",
        generation_id="conv-1-1",
    )
    return result, json.loads(result.for_model())


async def test_a_lookup_fills_its_url_and_reads_its_secret_at_call_time(
    salon: Salon, http: AiohttpToolCaller
) -> None:
    told = Told()
    result, seen = await run(runner(http, told=told), hours(salon), day="tue sday", who="Lina")

    assert result.status == "ok"
    assert seen == {
        "status": "ok",
        "http_status": 200,
        "response": {"day": "tue sday", "opens": "09:00", "staff": "Lina"},
    }
    assert salon.authorizations == [f"Bearer {TOKEN}"]
    [called] = told.calls
    assert (called.tool, called.call_id, called.generation_id) == (
        "opening_hours",
        "conv-1-1:call_1",
        "conv-1-1",
    )
    assert json.loads(called.arguments_json) == {"day": "tue sday", "who": "Lina"}
    assert TOKEN not in called.arguments_json and TOKEN not in called.result.to_json()


async def test_failures_are_results_the_model_can_explain(
    salon: Salon, http: AiohttpToolCaller
) -> None:
    calls = runner(http)
    started = asyncio.get_running_loop().time()

    error, error_seen = await run(calls, tool(salon, "calendar", "/broken"))
    timeout, _ = await run(calls, tool(salon, "slow", "/slow", timeout_seconds=0.5))
    invalid, invalid_seen = await run(calls, booking(salon), service="perm", extra=1)
    refused, _ = await run(calls, tool(salon, "gone", "/x", url="http://127.0.0.1:9/x"))
    moved, _ = await run(calls, tool(salon, "moved", "/elsewhere"))
    large, _ = await run(calls, tool(salon, "big", "/big"))
    unset, _ = await run(
        calls, tool(salon, "unset", "/hours/x", headers={"X-Api-Key": "${NOT_SET_ANYWHERE}"})
    )

    assert (error.status, error.http_status) == ("http_error", 503)
    assert error_seen["response"] == {"error": "the calendar is down"}
    assert timeout.status == "timeout" and "0.5 s" in timeout.detail
    assert invalid.status == "invalid_arguments"
    assert "arguments.service must be one of ['cut', 'colour']" in invalid_seen["error"]
    assert "arguments.day is required" in invalid_seen["error"]
    assert "arguments.extra is not a parameter" in invalid_seen["error"]
    assert salon.bookings == []  # a call breaking the schema never reaches the system
    assert refused.status == "connection_error"
    assert (moved.status, moved.http_status) == ("http_error", 302)
    assert "another host" in moved.detail
    assert large.status == "ok" and large.truncated and len(large.body) == 65_536
    assert unset.status == "unavailable" and "NOT_SET_ANYWHERE" not in unset.detail
    # Bounded by the timeout, never a hang (a generous bound for a loaded machine).
    assert asyncio.get_running_loop().time() - started < 8


async def test_tools_reach_only_public_addresses_unless_allowed(salon: Salon) -> None:
    """A tool's URL is the tenant's: by default nothing is sent to a private, loopback,
    link-local or unspecified address, whether written in the URL or behind a name."""
    port = salon.url.rsplit(":", 1)[1]
    public_only = AiohttpToolCaller()
    try:
        calls = runner(public_only)
        outcomes = {
            url: await run(calls, tool(salon, "hours", "/x", url=url))
            for url in (
                f"http://127.0.0.1:{port}/hours/tuesday",
                f"http://localhost:{port}/hours/tuesday",
                f"http://[::ffff:127.0.0.1]:{port}/hours/tuesday",
                f"http://0.0.0.0:{port}/hours/tuesday",
                "http://169.254.169.254/latest/meta-data/",
                "http://10.0.0.1/internal",
            )
        }
    finally:
        await public_only.close()

    for url, (result, seen) in outcomes.items():
        assert result.status == "connection_error", url
        assert "refused" in seen["error"] and "public address" in seen["error"], url
    assert salon.authorizations == []  # not one request reached the salon's system
    # The same tool, allowed (a development platform): called.
    allowed = AiohttpToolCaller(allow_private_addresses=True)
    try:
        result, _ = await run(runner(allowed), hours(salon), day="tuesday")
    finally:
        await allowed.close()
    assert result.status == "ok" and len(salon.authorizations) == 1


def test_private_addresses_are_allowed_only_when_configured() -> None:
    assert AiResponderConfig.from_env({}).tools_allow_private_addresses is False
    allowed = {"THREADLINE_AI_TOOLS_ALLOW_PRIVATE_ADDRESSES": "true"}
    assert AiResponderConfig.from_env(allowed).tools_allow_private_addresses is True


async def test_the_same_booking_again_returns_the_recorded_result(
    salon: Salon, http: AiohttpToolCaller
) -> None:
    told = Told()
    calls = runner(http, told=told)

    first, _ = await run(calls, booking(salon), service="cut", day="tuesday")
    again = await calls.run(
        booking(salon),
        # The regenerated reply's model writes the same arguments in another order.
        ToolCall("book_appointment", {"day": "tuesday", "service": "cut"}, call_id="call_9"),
        conversation_id="conv-1",
        generation_id="conv-1-2",
    )
    other, _ = await run(calls, booking(salon), service="colour", day="tuesday")

    assert len(salon.bookings) == 2  # the cut once, the colour once
    assert again == first and json.loads(first.body) == {"booking_id": 1}
    assert [c.replayed for c in told.calls] == [False, True, False]
    assert json.loads(other.body) == {"booking_id": 2}


class UnreachableLedger(MemoryLedger):
    async def claim(self, key: str) -> bool:
        raise ConnectionError("nats: no servers available")


async def test_a_booking_is_not_made_while_the_ledger_cannot_say_it_was_not_made_before(
    salon: Salon, http: AiohttpToolCaller
) -> None:
    calls = runner(http, ledger=UnreachableLedger())

    result, told_model = await run(calls, booking(salon), service="cut", day="tuesday")
    looked_up, _ = await run(calls, hours(salon), day="tuesday")

    assert salon.bookings == []  # a changing call is not risked
    assert result.status == "unavailable" and "not sent" in told_model["error"]
    assert looked_up.status != "unavailable"  # a lookup changes nothing: it is still made


async def test_the_ledger_in_jetstream_survives_another_responder(
    salon: Salon, http: AiohttpToolCaller, nats_server_url: str, nats_namespace: str
) -> None:
    nc = await nats.connect(nats_server_url)
    try:
        js = nc.jetstream()
        first = runner(http, await KeyValueMutationLedger.open(js, namespace=nats_namespace))
        second = runner(http, await KeyValueMutationLedger.open(js, namespace=nats_namespace))

        booked, _ = await run(first, booking(salon), service="cut", day="friday")
        replayed, _ = await run(second, booking(salon), service="cut", day="friday")
    finally:
        await nc.close()

    assert len(salon.bookings) == 1
    assert replayed == booked


async def test_two_identical_bookings_at_once_reach_the_system_once(
    salon: Salon, http: AiohttpToolCaller, nats_server_url: str, nats_namespace: str
) -> None:
    nc = await nats.connect(nats_server_url)
    slow = replace(booking(salon), url=f"{salon.url}/slow-bookings")
    try:
        js = nc.jetstream()
        first = runner(http, await KeyValueMutationLedger.open(js, namespace=nats_namespace))
        second = runner(http, await KeyValueMutationLedger.open(js, namespace=nats_namespace))

        results = await asyncio.gather(
            run(first, slow, service="cut", day="monday"),
            run(second, slow, service="cut", day="monday"),
        )
    finally:
        await nc.close()

    assert len(salon.bookings) == 1
    (made, _), (waited, _) = results
    assert made == waited and json.loads(made.body) == {"booking_id": 1}


async def test_a_booking_that_did_not_reach_the_system_is_tried_again(
    salon: Salon, http: AiohttpToolCaller
) -> None:
    ledger = MemoryLedger()
    down = replace(booking(salon), url="http://127.0.0.1:9/bookings")

    failed, _ = await run(runner(http, ledger), down, service="cut", day="monday")
    booked, _ = await run(runner(http, ledger), booking(salon), service="cut", day="monday")

    assert failed.status == "connection_error"
    assert booked.status == "ok" and len(salon.bookings) == 1


# The responder: rounds of tools, then the reply -----------------------------------------


class ScriptedModel:
    """An in-memory model (a unit test of the application): answers in order, keeps requests."""

    name = "openai:scripted"

    def __init__(self, *answers: Sequence[ToolCall] | str) -> None:
        self._answers = list(answers)
        self.requests: list[ModelRequest] = []

    async def generate(self, request: ModelRequest) -> ModelAnswer:
        self.requests.append(request)
        given = self._answers.pop(0) if self._answers else "done"
        calls = () if isinstance(given, str) else tuple(given)
        return ModelAnswer(
            text=given if isinstance(given, str) else "",
            tool_calls=calls,
            usage=Usage(10, 2),
            model=self.name,
            latency_seconds=0.01,
        )

    async def close(self) -> None:
        return None


def message(text: str, message_id: str = "m1") -> CustomerMessage:
    return CustomerMessage(
        message_id=message_id,
        conversation_id="conv-1",
        type="text",
        text=text,
        sent_at=NOW,
        customer_name="Ana",
    )


def assistant(*tools: HttpTool) -> AssistantSettings:
    return AssistantSettings(name="salon", version=3, model="openai:scripted", http_tools=tools)


def book_call(call_id: str) -> ToolCall:
    return ToolCall("book_appointment", {"service": "cut", "day": "tuesday"}, call_id=call_id)


async def test_a_regenerated_reply_does_not_book_twice(
    salon: Salon, http: AiohttpToolCaller
) -> None:
    responder = Responder(
        ScriptedModel(), clock=lambda: NOW, stale_after=timedelta(hours=1), tools=runner(http)
    )
    first = ScriptedModel([book_call("call_1")], "Booked: Tuesday, a cut.")
    # The customer wrote again: the burst is answered anew and the model books again.
    second = ScriptedModel([book_call("call_2")], "Booked: Tuesday, a cut. See you!")

    answered = await responder.answer_burst(
        [message("Book me a cut on Tuesday")],
        history=_no_history(),
        assistant=assistant(booking(salon)),
        model=first,
        generation_id="conv-1-1",
    )
    regenerated = await responder.answer_burst(
        [message("Book me a cut on Tuesday"), message("please", "m2")],
        history=_no_history(),
        assistant=assistant(booking(salon)),
        model=second,
        generation_id="conv-1-2",
    )

    assert len(salon.bookings) == 1
    assert answered.draft is not None and regenerated.draft is not None
    assert regenerated.draft.usage == Usage(20, 4)  # both rounds counted
    [round_] = second.requests[1].tool_rounds
    assert json.loads(round_.results[0])["response"] == {"booking_id": 1}
    assert [t.name for t in second.requests[0].tools] == ["reply", "hand_off", "book_appointment"]


async def test_tool_rounds_are_bounded(salon: Salon, http: AiohttpToolCaller) -> None:
    lookup = ToolCall("opening_hours", {"day": "monday"}, call_id="c")
    model = ScriptedModel(*([[lookup]] * 10))
    responder = Responder(
        model, clock=lambda: NOW, stale_after=timedelta(hours=1), tools=runner(http)
    )

    answer = await responder.answer_burst(
        [message("When do you open?")], history=_no_history(), assistant=assistant(hours(salon))
    )

    assert len(model.requests) == MAX_TOOL_ROUNDS + 1
    assert [t.name for t in model.requests[-1].tools] == ["reply", "hand_off"]
    assert answer.hand_off is not None  # it never replied: a person takes over


async def test_the_openai_protocol_carries_the_calls_and_results_back(
    salon: Salon, http: AiohttpToolCaller
) -> None:
    async with OpenAIServer() as server:
        server.script(
            ToolCallAnswer("opening_hours", {"day": "saturday"}),
            ToolCallAnswer("reply", {"kind": "text", "text": "We open at 09:00 on Saturday."}),
        )
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
        model = model_for("openai:gpt-4.1-mini", env, ModelSettings(5.0, 0))
        responder = Responder(
            model, clock=lambda: NOW, stale_after=timedelta(hours=1), tools=runner(http)
        )
        try:
            answer = await responder.answer_burst(
                [message("Are you open on Saturday?")],
                history=_no_history(),
                assistant=assistant(hours(salon)),
                model=model,
            )
        finally:
            await model.close()

    assert answer.draft is not None and "09:00" in answer.draft.reply.text
    second = server.requests[1].body["messages"]
    calling, result = second[-2], second[-1]
    assert calling["tool_calls"][0]["function"]["name"] == "opening_hours"
    assert result["role"] == "tool"
    assert result["tool_call_id"] == calling["tool_calls"][0]["id"]
    assert json.loads(result["content"])["response"]["opens"] == "09:00"


def _no_history() -> History:
    return NO_HISTORY


async def test_the_anthropic_protocol_carries_tool_uses_and_results() -> None:
    async with AnthropicServer() as server:
        server.script(TextAnswer("We open at 09:00."))
        env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "sk-ant-test"}
        model = model_for("anthropic:claude-sonnet-4-5", env, ModelSettings(5.0, 0))
        call = ToolCall("opening_hours", {"day": "saturday"}, call_id="toolu_7")
        try:
            await model.generate(
                ModelRequest(
                    system_prompt="You are the salon's assistant.",
                    turns=(Turn("customer", "Open on Saturday?"),),
                    tool_rounds=(ToolRound((call,), ('{"status": "ok"}',)),),
                )
            )
        finally:
            await model.close()

    messages = server.requests[0].body["messages"]
    assert messages[-2] == {
        "role": "assistant",
        "content": [
            {
                "type": "tool_use",
                "id": "toolu_7",
                "name": "opening_hours",
                "input": {"day": "saturday"},
            }
        ],
    }
    assert messages[-1] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_7", "content": '{"status": "ok"}'}
        ],
    }
