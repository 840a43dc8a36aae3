"""A reply's usage and cost as the integration events carry them, and a discarded generation on
AI_EVENTS over real NATS JetStream (issue 10 item 8)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import nats
import pytest

from threadline.ai_responder.adapters.integration_events import (
    cost_text,
    generation_discarded,
    milliseconds,
    reply_drafted,
)
from threadline.ai_responder.adapters.outbound.publisher import JetStreamReplies
from threadline.ai_responder.domain.answers import (
    DiscardedGeneration,
    Producer,
    ReplyDraft,
    Usage,
)
from threadline.ai_responder.domain.reply_format import TextReply
from threadline.contracts.events.v1 import ai_pb2
from threadline.messaging.bus import JetStreamBus
from threadline.messaging.topology import (
    AI_EVENTS,
    GENERATION_DISCARDED,
    Topology,
    ensure_streams,
)

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def discarded(cost: Decimal | None) -> DiscardedGeneration:
    return DiscardedGeneration(
        generation_id="gen-c-1-2",
        conversation_id="c-1",
        producer=Producer(
            model="openai:gpt-4.1-mini",
            usage=Usage(input_tokens=1000, output_tokens=200, cached_tokens=400),
            latency_seconds=0.8125,
            assistant="salon",
            assistant_version=3,
            cost=cost,
        ),
        covered_message_ids=("m-1", "m-2"),
        discarded_at=AT,
    )


def test_a_draft_carries_its_tokens_latency_cost_and_assistant() -> None:
    draft = ReplyDraft(
        draft_id="draft-m-2",
        conversation_id="c-1",
        in_reply_to_message_id="m-2",
        reply=TextReply("We open at nine."),
        model="anthropic:claude-sonnet-4-5",
        usage=Usage(input_tokens=1000, output_tokens=200, cached_tokens=400),
        latency_seconds=1.2344,
        drafted_at=AT,
        assistant="salon",
        assistant_version=3,
        cost=Decimal("0.00492"),
        covered_message_ids=("m-1", "m-2"),
    )

    event = reply_drafted(draft)

    assert (event.prompt_tokens, event.completion_tokens, event.cached_tokens) == (1000, 200, 400)
    assert (event.latency_ms, event.cost) == (1234, "0.00492")
    assert (event.assistant, event.assistant_version) == ("salon", 3)
    assert list(event.covered_message_ids) == ["m-1", "m-2"]
    assert (event.model, event.content.text) == ("anthropic:claude-sonnet-4-5", "We open at nine.")


def test_a_draft_of_the_keyword_path_has_no_assistant_and_no_price() -> None:
    draft = ReplyDraft(
        draft_id="draft-m-1",
        conversation_id="c-1",
        in_reply_to_message_id="m-1",
        reply=TextReply("Passing you on."),
        model="rules:keywords",
        usage=Usage(0, 0),
        latency_seconds=0.0,
        drafted_at=AT,
    )

    event = reply_drafted(draft)

    assert (event.assistant, event.assistant_version, event.cost, event.latency_ms) == (
        "",
        0,
        "",
        0,
    )
    assert list(event.covered_message_ids) == []


def test_a_discarded_generation_carries_what_it_spent() -> None:
    event = generation_discarded(discarded(Decimal("0.00060")))

    assert (event.generation_id, event.conversation_id) == ("gen-c-1-2", "c-1")
    assert (event.model, event.assistant, event.assistant_version) == (
        "openai:gpt-4.1-mini",
        "salon",
        3,
    )
    assert (event.prompt_tokens, event.completion_tokens, event.cached_tokens) == (1000, 200, 400)
    assert (event.cost, event.latency_ms) == ("0.0006", 812)
    assert list(event.covered_message_ids) == ["m-1", "m-2"]
    assert event.discarded_at.ToDatetime(tzinfo=UTC) == AT


@pytest.mark.parametrize(
    ("cost", "text"),
    [
        (None, ""),
        (Decimal(0), "0"),
        (Decimal("0.000000675"), "0.000000675"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("12.50"), "12.5"),
        (Decimal("1E+2"), "100"),
    ],
)
def test_a_cost_is_a_plain_decimal_or_empty(cost: Decimal | None, text: str) -> None:
    assert cost_text(cost) == text


def test_latency_is_whole_milliseconds_within_int32() -> None:
    assert [milliseconds(s) for s in (0.0, 0.0004, 0.0006, 2.5, -1.0, 1e9)] == [
        0,
        0,
        1,
        2500,
        0,
        2**31 - 1,
    ]


async def test_a_discarded_generation_is_published_once_under_its_generation_id(
    nats_server_url: str, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    nc = await nats.connect(nats_server_url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, topology)
        replies = JetStreamReplies(JetStreamBus(js), topology)

        await replies.generation_discarded(discarded(Decimal("0.0006")))
        await replies.generation_discarded(discarded(Decimal("0.0006")))  # a redelivery

        stream = topology.stream(AI_EVENTS)
        info = await js.stream_info(stream)
        assert info.state.messages == 1
        message = await js.get_msg(stream, info.state.last_seq)
    finally:
        await nc.close()
    assert message.subject == topology.publish_subject(GENERATION_DISCARDED)
    assert message.subject.endswith("ai_responder.events.0.Conversation.GenerationDiscarded")
    assert message.headers is not None and message.headers["Nats-Msg-Id"] == "gen-c-1-2"
    event = ai_pb2.GenerationDiscarded.FromString(message.data)
    assert (event.generation_id, event.cost) == ("gen-c-1-2", "0.0006")
