"""What an AI reply cited and the assistant's tool calls (issue 12, schema version 9): the
citations kept on the reply's row and returned with the message, each tool call kept once per
call id and listed by ListToolCalls within the caller's scope."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING
from uuid import uuid4

import grpc
import pytest

from threadline.analytics.domain.write.projection import project
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.events.v1 import ai_pb2

if TYPE_CHECKING:
    from conftest import EventLog, RunningAnalytics

CITED = ai_pb2.Citation(
    passage_id="p-7",
    document="prices.pdf",
    knowledge_base="salon",
    score=0.0325,
    snippet="A women's cut costs 35 euros.",
)


def test_a_replys_citations_are_kept_on_its_row(log: EventLog) -> None:
    conversation = uuid4()
    odd = ai_pb2.Citation(passage_id="p-1", document="faq.md", score=math.nan)
    changes = project(
        [
            log.queued(conversation, "r-1", model="openai:gpt-4.1-mini", citations=[CITED, odd]),
            log.queued(conversation, "r-2", model="openai:gpt-4.1-mini"),
        ]
    )

    assert changes.messages["r-1"].citations == (
        {
            "passage_id": "p-7",
            "document": "prices.pdf",
            "knowledge_base": "salon",
            "score": 0.0325,
            "snippet": "A women's cut costs 35 euros.",
        },
        {"passage_id": "p-1", "document": "faq.md", "knowledge_base": "", "score": None,
         "snippet": ""},
    )  # fmt: skip
    assert changes.messages["r-2"].citations == ()


def test_a_tool_call_is_kept_once_per_call_id(log: EventLog) -> None:
    conversation = uuid4()
    first = log.tool_call(conversation, "call-1", latency_ms=120, mutating=False)
    changes = project(
        [
            first,
            log.tool_call(conversation, "call-1", tool="book", status="timeout"),
            log.tool_call(conversation, "call-2", arguments_json="not json", http_status=0),
        ]
    )

    kept = changes.tool_calls["call-1"]
    assert (kept.tool, kept.status, kept.http_status, kept.position) == (
        "check_availability",
        "ok",
        200,
        first.position,
    )
    assert kept.arguments == {"day": "2026-06-02"} and kept.latency_ms == 120
    assert changes.tool_calls["call-2"].arguments == {"unparsed": "not json"}


async def test_messages_show_their_citations_and_tool_calls_are_listed(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    contact, conversation = uuid4(), uuid4()
    await analytics.publish(
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, f"{conversation}-in"),
        log.tool_call(
            conversation,
            f"{conversation}-call-1",
            generation_id="gen-1",
            latency_ms=250,
            mutating=False,
        ),
        log.tool_call(
            conversation,
            f"{conversation}-call-2",
            tool="book",
            arguments_json='{"day":"2026-06-02","time":"10:00"}',
            status="http_error",
            http_status=409,
            generation_id="gen-1",
            mutating=True,
            replayed=True,
        ),
        log.queued(
            conversation, f"{conversation}-cited", model="openai:gpt-4.1-mini", citations=[CITED]
        ),
        log.queued(conversation, f"{conversation}-plain", model="openai:gpt-4.1-mini"),
    )
    await analytics.projected(log.position)

    listed = await analytics.queries.ListMessages(
        pb.ListMessagesRequest(conversation_id=str(conversation)), metadata=analytics.reader
    )
    by_id = {m.id: m for m in listed.messages}
    cited, plain = by_id[f"{conversation}-cited"], by_id[f"{conversation}-plain"]
    assert [(c.passage_id, c.document, c.knowledge_base, c.snippet) for c in cited.citations] == [
        ("p-7", "prices.pdf", "salon", "A women's cut costs 35 euros.")
    ]
    assert cited.citations[0].score == pytest.approx(0.0325)
    assert json.loads(cited.metadata_json)["citations"][0]["document"] == "prices.pdf"
    assert list(plain.citations) == [] and "citations" not in json.loads(plain.metadata_json)

    calls = await analytics.queries.ListToolCalls(
        pb.ListToolCallsRequest(conversation_id=str(conversation)), metadata=analytics.reader
    )
    assert calls.total == 2 and (calls.page, calls.size) == (1, 20)
    first, second = calls.tool_calls
    assert (first.tool, first.status, first.http_status, first.latency_ms) == (
        "check_availability",
        "ok",
        200,
        250,
    )
    assert json.loads(first.arguments_json) == {"day": "2026-06-02"}
    assert (first.generation_id, first.mutating, first.replayed) == ("gen-1", False, False)
    assert (second.tool, second.http_status, second.mutating, second.replayed) == (
        "book",
        409,
        True,
        True,
    )
    assert json.loads(second.arguments_json) == {"day": "2026-06-02", "time": "10:00"}
    assert first.called_at.ToDatetime() < second.called_at.ToDatetime()

    with pytest.raises(grpc.aio.AioRpcError) as elsewhere:  # another number's token
        await analytics.queries.ListToolCalls(
            pb.ListToolCallsRequest(conversation_id=str(conversation)), metadata=analytics.tenant
        )
    assert elsewhere.value.code() is grpc.StatusCode.NOT_FOUND

    paged = await analytics.queries.ListToolCalls(
        pb.ListToolCallsRequest(conversation_id=str(conversation), page=2, size=1),
        metadata=analytics.reader,
    )
    assert [c.tool for c in paged.tool_calls] == ["book"] and paged.total == 2


async def test_tool_calls_of_an_unknown_conversation_are_not_found(
    analytics: RunningAnalytics,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await analytics.queries.ListToolCalls(
            pb.ListToolCallsRequest(conversation_id=str(uuid4())), metadata=analytics.reader
        )
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND

    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await analytics.queries.ListToolCalls(
            pb.ListToolCallsRequest(conversation_id="not-an-id"), metadata=analytics.reader
        )
    assert malformed.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "conversation_id" in (malformed.value.details() or "")
