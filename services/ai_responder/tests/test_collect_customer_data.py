"""The built-in `collect_customer_data` tool (issue 12 item 2): offered when the assistant has
fields to collect (one string property each), its values checked with the shared field rules in
the business's timezone and the assistant's language, the accepted ones published as
`CustomerDataCollected` on real JetStream, and the model told what was saved and what was
refused (with the hint to ask again) through the OpenAI protocol of a local model server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import nats

from threadline.ai_responder.adapters.outbound.customer_data_events import JetStreamCustomerData
from threadline.ai_responder.adapters.outbound.models import ModelSettings, model_for
from threadline.ai_responder.application.collecting import (
    COLLECT_CUSTOMER_DATA,
    CollectCustomerData,
)
from threadline.ai_responder.application.ports import NO_HISTORY, ToolCall
from threadline.ai_responder.application.responder import Responder
from threadline.ai_responder.domain.customer_data import (
    NOT_COLLECTED,
    CustomerDataCollected,
    collect,
    collect_fields_from_json,
)
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.directory import AssistantSettings
from threadline.ai_responder.domain.reply_format import TextReply
from threadline.contracts.events.v1 import ai_pb2
from threadline.messaging.bus import JetStreamBus
from threadline.messaging.topology import (
    AI_EVENTS,
    CUSTOMER_DATA_COLLECTED,
    Topology,
    ensure_streams,
)
from threadline.rules.fields import FieldSpec
from threadline.testing.model_servers import OpenAIServer, ToolCallAnswer

# 01:30 UTC on 6 December is still 5 December in São Paulo (UTC-3).
NOW = datetime(2026, 12, 6, 1, 30, tzinfo=UTC)
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
FIELDS = collect_fields_from_json(
    json.dumps(
        [
            {"key": "name", "type": "name", "required": True},
            {"key": "email", "type": "email", "label": "Email for the confirmation"},
            {"key": "day", "type": "date"},
            {"key": "service", "type": "choice", "options": [{"id": "cut", "title": "Haircut"}]},
        ]
    )
)


def test_the_fields_are_read_from_the_canonical_json() -> None:
    assert [(f.key, f.spec.kind.value, f.required) for f in FIELDS] == [
        ("name", "name", True),
        ("email", "email", False),
        ("day", "date", False),
        ("service", "choice", False),
    ]
    assert FIELDS[1].label == "Email for the confirmation"
    assert collect_fields_from_json("") == collect_fields_from_json("not json") == ()


def test_values_are_saved_normalised_or_refused_with_the_hint_in_the_language() -> None:
    result = collect(
        FIELDS,
        {
            "name": "maria da silva",
            "email": "maria@",
            "day": "amanhã",
            "service": "haircut",
            "shoe_size": "38",
            "phone": "",
        },
        now=NOW,
        timezone=SAO_PAULO,
        language="pt_BR",
    )

    # "amanhã" is the business's tomorrow: 6 December in São Paulo, not the 7th of UTC.
    assert result.saved == {"name": "Maria da Silva", "day": "2026-12-06", "service": "cut"}
    assert result.refused == {
        "email": FieldSpec("email", FIELDS[1].spec.kind).hint_in("pt"),
        "shoe_size": NOT_COLLECTED,
    }
    assert "e-mail" in result.refused["email"]
    assert json.loads(result.for_model()) == {
        "saved": {"name": "Maria da Silva", "day": "2026-12-06", "service": "cut"},
        "refused": dict(result.refused),
    }


def message(text: str) -> CustomerMessage:
    return CustomerMessage(
        message_id="m1",
        conversation_id="conv-7",
        type="text",
        text=text,
        sent_at=NOW - timedelta(seconds=5),
        customer_name="Maria",
    )


def salon(*, collecting: bool = True) -> AssistantSettings:
    return AssistantSettings(
        name="salon",
        version=2,
        model="openai:gpt-4.1-mini",
        language="en",
        collect_fields=FIELDS if collecting else (),
    )


async def test_the_model_collects_is_told_what_was_refused_and_the_values_are_published(
    nats_server_url: str, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    nc = await nats.connect(nats_server_url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, topology)
        collector = CollectCustomerData(
            timezone=SAO_PAULO,
            clock=lambda: NOW,
            events=JetStreamCustomerData(JetStreamBus(js), topology),
        )
        async with OpenAIServer() as server:
            server.script(
                ToolCallAnswer(
                    COLLECT_CUSTOMER_DATA, {"name": "maria da silva", "email": "maria at example"}
                ),
                ToolCallAnswer(
                    "reply", {"kind": "text", "text": "Thanks, Maria! What is your email?"}
                ),
            )
            env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
            model = model_for("openai:gpt-4.1-mini", env, ModelSettings(5.0, 0))
            responder = Responder(
                model, clock=lambda: NOW, stale_after=timedelta(hours=1), collector=collector
            )
            try:
                answer = await responder.answer_burst(
                    [message("I'm maria da silva, maria at example")],
                    history=NO_HISTORY,
                    assistant=salon(),
                    model=model,
                    generation_id="conv-7-1",
                )
            finally:
                await model.close()
        stream = topology.stream(AI_EVENTS)
        info = await js.stream_info(stream)
        published = await js.get_msg(stream, info.state.last_seq)
    finally:
        await nc.close()

    assert answer.draft is not None and isinstance(answer.draft.reply, TextReply)
    assert "Maria" in answer.draft.reply.text
    first, second = (r.body for r in server.requests)
    offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert list(offered[COLLECT_CUSTOMER_DATA]["parameters"]["properties"]) == [
        "name",
        "email",
        "day",
        "service",
    ]
    assert "collect_customer_data" in first["messages"][0]["content"]  # the guidance
    told = json.loads(second["messages"][-1]["content"])
    assert told["saved"] == {"name": "Maria da Silva"}
    assert told["refused"]["email"].startswith("Please send an email address")
    assert info.state.messages == 1
    assert published.subject == topology.publish_subject(CUSTOMER_DATA_COLLECTED)
    assert published.headers is not None
    event = ai_pb2.CustomerDataCollected.FromString(published.data or b"")
    assert published.headers["Nats-Msg-Id"] == event.event_id
    assert event.event_id.startswith("collect:conv-7-1:")
    assert (event.conversation_id, event.generation_id) == ("conv-7", "conv-7-1")
    assert json.loads(event.fields_json) == {"name": "Maria da Silva"}
    assert event.collected_at.ToDatetime(tzinfo=UTC) == NOW


async def test_an_assistant_without_fields_is_not_offered_the_tool() -> None:
    async with OpenAIServer() as server:
        server.script(ToolCallAnswer("reply", {"kind": "text", "text": "Hello!"}))
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
        model = model_for("openai:gpt-4.1-mini", env, ModelSettings(5.0, 0))
        collector = CollectCustomerData(timezone=SAO_PAULO, clock=lambda: NOW)
        responder = Responder(
            model, clock=lambda: NOW, stale_after=timedelta(hours=1), collector=collector
        )
        try:
            await responder.answer_burst(
                [message("hi")], history=NO_HISTORY, assistant=salon(collecting=False)
            )
        finally:
            await model.close()

    names = [t["function"]["name"] for t in server.requests[0].body["tools"]]
    assert COLLECT_CUSTOMER_DATA not in names and "reply" in names


class Unreachable:
    async def customer_data_collected(self, collected: CustomerDataCollected) -> None:
        raise ConnectionError("no NATS")


async def test_values_the_session_was_not_told_are_not_said_to_be_saved() -> None:
    collector = CollectCustomerData(timezone=SAO_PAULO, clock=lambda: NOW, events=Unreachable())

    told = await collector.run(
        FIELDS,
        ToolCall(COLLECT_CUSTOMER_DATA, {"email": "ana@example.com"}, call_id="c1"),
        conversation_id="conv-7",
        generation_id="g",
        language="en",
    )

    assert json.loads(told)["saved"] == {}
    assert "ask again later" in json.loads(told)["refused"]["email"]
