"""What each AI reply cost (issue 10 item 8): the price the AI responder reported, the usage
kept with the message, the conversation's assistant by name, and generations the assistant
discarded counted in the conversation's cost."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from threadline.analytics.bootstrap import projection_consumer
from threadline.analytics.domain.write.projection import project
from threadline.analytics.domain.write.rates import Rates, TokenPrice, reported_amount
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.consumer import Delivery
from threadline.messaging.relay import POSITION

if TYPE_CHECKING:
    from conftest import EventLog, RunningAnalytics

# 1 per 1,000 prompt tokens, 2 per 1,000 completion tokens: what a reply costs without a price.
RATES = Rates(language_models={"default": TokenPrice(Decimal(1), Decimal(2))})
USAGE: dict[str, Any] = {
    "prompt_tokens": 1000,
    "completion_tokens": 200,
    "cached_tokens": 400,
    "latency_ms": 812,
    "assistant": "salon",
    "assistant_version": 3,
    "cost": "0.0006",
}


# The projection ---------------------------------------------------------------------------------


def test_a_reply_costs_the_price_the_ai_responder_reported(log: EventLog) -> None:
    event = log.queued(uuid4(), "r-1", model="openai:gpt-4.1-mini", **USAGE)

    changes = project([event], rates=RATES)

    row = changes.messages["r-1"]
    assert row.llm_cost == Decimal("0.0006")  # not 1 + 0.4 at the rates
    assert (row.cached_tokens, row.latency_ms) == (400, 812)
    assert (row.assistant, row.assistant_version, row.model) == (
        "salon",
        3,
        "openai:gpt-4.1-mini",
    )
    (patch,) = changes.conversation_patches.values()
    assert (patch.llm_cost, patch.cached_tokens, patch.prompt_tokens) == (
        Decimal("0.0006"),
        400,
        1000,
    )


@pytest.mark.parametrize("cost", ["", "abc", "-1", "NaN", "1e30", "1e-40"])
def test_a_reply_without_a_usable_price_is_priced_at_the_rates(log: EventLog, cost: str) -> None:
    event = log.queued(uuid4(), "r-1", model="openai:llama3.2", **(USAGE | {"cost": cost}))

    row = project([event], rates=RATES).messages["r-1"]

    assert row.llm_cost == Decimal("1.4")  # 1,000 x 1 + 200 x 2, per 1,000


def test_rates_in_another_currency_price_the_tokens_rather_than_mix_in_dollars(
    log: EventLog,
) -> None:
    euros = Rates(currency="EUR", language_models=RATES.language_models)
    event = log.queued(uuid4(), "r-1", model="openai:gpt-4.1-mini", **USAGE)

    assert project([event], rates=euros).messages["r-1"].llm_cost == Decimal("1.4")


def test_a_reported_amount_is_a_plain_decimal_a_numeric_column_holds() -> None:
    assert [reported_amount(t) for t in ("0.000123", "0", "12.5", "0E-50")] == [
        Decimal("0.000123"),
        Decimal(0),
        Decimal("12.5"),
        Decimal(0),
    ]
    assert [reported_amount(t) for t in ("", "x", "-0.1", "Infinity", "1e15", "1e-31")] == [
        None
    ] * 6


def test_the_conversations_assistant_is_the_latest_that_names_itself(log: EventLog) -> None:
    conversation = uuid4()
    events = [
        log.queued(conversation, "r-1", model="gpt-4o-mini"),  # before issue 10: a model only
        log.queued(conversation, "r-2", model="openai:gpt-4.1-mini", assistant="salon"),
        log.queued(conversation, "r-3", model="threadline:keyword-hand-off"),
        log.queued(conversation, "r-4", model="openai:gpt-4.1", **USAGE),
        log.queued(conversation, "r-5", author="agent"),
    ]

    (patch,) = project(events).conversation_patches.values()
    (stand_in,) = project(events[:1]).conversation_patches.values()

    assert (patch.assistant, patch.assistant_version, patch.assistant_named) == ("salon", 3, True)
    assert (stand_in.assistant, stand_in.assistant_version, stand_in.assistant_named) == (
        "gpt-4o-mini",
        0,
        False,
    )


def test_a_discarded_generation_adds_its_cost_and_tokens_to_the_conversation_only(
    log: EventLog,
) -> None:
    conversation = uuid4()
    events = [
        log.inbound(conversation, "m-1"),
        log.discarded(conversation, "gen-1", model="openai:gpt-4.1-mini", **USAGE),
        log.discarded(conversation, "gen-2", model="openai:llama3.2", prompt_tokens=1000),
        log.queued(conversation, "r-1", model="openai:gpt-4.1-mini", **USAGE),
    ]

    changes = project(events, rates=RATES)

    (patch,) = changes.conversation_patches.values()
    assert (patch.discarded_generations, patch.discarded_llm_cost) == (2, Decimal("1.0006"))
    assert patch.llm_cost == Decimal("1.0012")  # both discarded and the reply
    assert (patch.prompt_tokens, patch.completion_tokens, patch.cached_tokens) == (
        3000,
        400,
        800,
    )
    assert set(changes.messages) == {"m-1", "r-1"}  # a discarded generation is no message
    assert patch.added == 2
    assert [reply.message_id for reply in changes.replies] == ["r-1"]  # nor an answer
    assert patch.assistant == "salon"  # named by the reply, not by a discarded generation


# The read models on PostgreSQL ------------------------------------------------------------------


def delivered(*events: SessionEvent) -> list[Delivery]:
    return [
        Delivery("s", e.SerializeToString(), {POSITION: str(e.position)}, i, 1)
        for i, e in enumerate(events, start=1)
    ]


async def row(pool: AsyncConnectionPool[Any], query: str, *args: object) -> dict[str, Any]:
    async with pool.connection() as connection, connection.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, args)
        found = await cur.fetchone()
    assert found is not None
    return dict(found)


async def test_usage_lands_in_the_read_models_across_batches(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    projector = projection_consumer(pool, rates=RATES)
    contact, conversation = uuid4(), uuid4()
    await projector.handle(delivered(log.contact(contact), log.conversation(conversation, contact)))
    await projector.handle(delivered(log.queued(conversation, "r-1", model="gpt-4o-mini")))
    await projector.handle(
        delivered(
            log.discarded(conversation, "gen-1", model="openai:gpt-4.1-mini", **USAGE),
            log.queued(conversation, "r-2", model="openai:gpt-4.1-mini", **USAGE),
        )
    )
    stand_in_later = log.queued(conversation, "r-3", model="threadline:keyword-hand-off")
    await projector.handle(delivered(stand_in_later))

    talk = await row(pool, "SELECT * FROM analytics.conversations WHERE id = %s", conversation)
    reply = await row(pool, "SELECT * FROM analytics.messages WHERE id = 'r-2'")

    assert (talk["assistant"], talk["assistant_version"]) == ("salon", 3)
    assert (talk["discarded_generations"], talk["discarded_llm_cost"]) == (1, Decimal("0.0006"))
    assert talk["llm_cost"] == Decimal("0.0012")  # r-1 had no tokens: free
    assert (talk["prompt_tokens"], talk["cached_tokens"], talk["tokens"]) == (2000, 800, 2400)
    assert (reply["cached_tokens"], reply["latency_ms"], reply["llm_cost"]) == (
        400,
        812,
        Decimal("0.0006"),
    )
    assert (reply["assistant"], reply["assistant_version"]) == ("salon", 3)


async def test_a_conversation_answered_before_assistants_keeps_its_model_as_assistant(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    projector = projection_consumer(pool, rates=RATES)
    contact, conversation = uuid4(), uuid4()
    await projector.handle(
        delivered(
            log.contact(contact),
            log.conversation(conversation, contact),
            log.queued(conversation, "r-1", model="gpt-4o-mini", prompt_tokens=1000),
        )
    )

    talk = await row(pool, "SELECT * FROM analytics.conversations WHERE id = %s", conversation)

    assert (talk["assistant"], talk["assistant_version"], talk["llm_cost"]) == (
        "gpt-4o-mini",
        0,
        Decimal(1),
    )


# Over gRPC ----------------------------------------------------------------------------------


async def answered_by(analytics: RunningAnalytics, log: EventLog, assistant: str) -> UUID:
    contact, conversation = uuid4(), uuid4()
    await analytics.publish(
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, f"{conversation}-in"),
        log.discarded(conversation, f"{conversation}-gen", model="openai:gpt-4.1", **USAGE),
        log.queued(
            conversation,
            f"{conversation}-out",
            model="openai:gpt-4.1-mini",
            **(USAGE | {"assistant": assistant}),
        ),
    )
    await analytics.projected(log.position)
    return conversation


async def test_the_assistant_filter_and_view_name_the_assistant_not_the_model(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    salon = await answered_by(analytics, log, "salon")
    await answered_by(analytics, log, "shop")

    listed = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(assistant="salon"), metadata=analytics.reader
    )
    by_model = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(assistant="openai:gpt-4.1-mini"), metadata=analytics.reader
    )

    assert [c.id for c in listed.conversations] == [str(salon)]
    assert by_model.conversations == []
    shown = listed.conversations[0]
    assert (shown.assistant, shown.tokens) == ("salon", 2400)
    assert Decimal(str(shown.cost)) == Decimal("0.0012")  # the reply and the discarded one


async def test_a_replys_usage_travels_in_its_metadata(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    conversation = await answered_by(analytics, log, "salon")

    reply = await analytics.queries.ListMessages(
        pb.ListMessagesRequest(conversation_id=str(conversation)), metadata=analytics.reader
    )

    details = json.loads(reply.messages[-1].metadata_json)
    assert {key: details[key] for key in USAGE if key != "cost"} == {
        key: value for key, value in USAGE.items() if key != "cost"
    }
    assert (details["model"], details["llm_cost"]) == ("openai:gpt-4.1-mini", 0.0006)
