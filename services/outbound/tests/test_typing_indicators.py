"""The typing-indicator use case and what its consumer makes of each result: shown or too late is
acked, a transient failure retried, a permanent one dead-lettered; an unreadable request too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from threadline.contracts.events.v1 import ai_pb2
from threadline.messaging.consumer import ACK, DeadLetter, Delivery, Retry
from threadline.outbound.adapters.inbound.typing_indicators import REFUSED, TypingHandler
from threadline.outbound.adapters.outbound.graph_api import ScriptedGraphApi
from threadline.outbound.application.ports import GraphApiError
from threadline.outbound.application.typing_indicators import (
    NotShown,
    Shown,
    TooLate,
    TypingIndicators,
)
from threadline.outbound.domain.failure import WhatsAppFailure
from threadline.outbound.domain.typing_indicator import SHOWN_FOR, TypingIndicatorRequest
from threadline.testing.clock import FakeClock

PHONE_NUMBER_ID = "106540352242922"
WAMID = "wamid.HBgLMTU1NTAxMjM0NTYVAgASGBQ1QzZBMjBEQUVGMTBBOTg3QjREMQA="
REQUESTED_AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def a_request(**changes: object) -> TypingIndicatorRequest:
    fields: dict[str, object] = {
        "request_id": "typing-1",
        "conversation_id": "conversation-1",
        "phone_number_id": PHONE_NUMBER_ID,
        "wamid": WAMID,
        "requested_at": REQUESTED_AT,
    }
    return TypingIndicatorRequest(**{**fields, **changes})  # type: ignore[arg-type]


def refusal(code: int, *, retryable: bool) -> GraphApiError:
    return GraphApiError(WhatsAppFailure(code, f"error {code}", "why", retryable=retryable))


async def test_a_fresh_request_marks_the_message_read_with_the_typing_indicator() -> None:
    graph, clock = ScriptedGraphApi(), FakeClock(REQUESTED_AT + timedelta(seconds=1))

    result = await TypingIndicators(graph=graph, clock=clock).show(a_request())

    assert result == Shown()
    assert graph.marked_read == [
        (
            PHONE_NUMBER_ID,
            {
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": WAMID,
                "typing_indicator": {"type": "text"},
            },
        )
    ]
    assert graph.sent == []


@pytest.mark.parametrize(
    ("age", "sent"),
    [(SHOWN_FOR, True), (SHOWN_FOR + timedelta(milliseconds=1), False), (timedelta(0), True)],
    ids=["25s", "just-over-25s", "now"],
)
async def test_a_request_older_than_whatsapp_shows_the_indicator_is_not_sent(
    age: timedelta, sent: bool
) -> None:
    graph, clock = ScriptedGraphApi(), FakeClock(REQUESTED_AT + age)

    result = await TypingIndicators(graph=graph, clock=clock).show(a_request())

    assert bool(graph.marked_read) is sent
    assert result == (Shown() if sent else TooLate(age))


async def test_a_graph_api_failure_is_not_shown_with_the_failure() -> None:
    graph = ScriptedGraphApi(receipt_script=[refusal(100, retryable=False)])

    result = await TypingIndicators(graph=graph, clock=FakeClock(REQUESTED_AT)).show(a_request())

    assert isinstance(result, NotShown)
    assert (result.failure.code, result.failure.retryable) == (100, False)


def delivery(event: ai_pb2.TypingIndicatorRequested | bytes) -> Delivery:
    data = event if isinstance(event, bytes) else event.SerializeToString()
    return Delivery("ai_responder.events.0.Conversation.TypingIndicatorRequested", data, {}, 1, 1)


def requested(**changes: object) -> ai_pb2.TypingIndicatorRequested:
    stamp = Timestamp()
    stamp.FromDatetime(REQUESTED_AT)
    fields: dict[str, object] = {
        "request_id": "typing-1",
        "conversation_id": "conversation-1",
        "phone_number_id": PHONE_NUMBER_ID,
        "wamid": WAMID,
        "requested_at": stamp,
    }
    return ai_pb2.TypingIndicatorRequested(**{**fields, **changes})  # type: ignore[arg-type]


def handler(graph: ScriptedGraphApi, *, seconds_later: float = 1.0) -> TypingHandler:
    clock = FakeClock(REQUESTED_AT + timedelta(seconds=seconds_later))
    return TypingHandler(TypingIndicators(graph=graph, clock=clock))


async def test_a_shown_indicator_is_acked() -> None:
    graph = ScriptedGraphApi()

    assert await handler(graph)(delivery(requested())) is ACK
    assert [phone for phone, _ in graph.marked_read] == [PHONE_NUMBER_ID]


async def test_a_stale_indicator_is_acked_without_a_call() -> None:
    graph = ScriptedGraphApi()

    assert await handler(graph, seconds_later=26)(delivery(requested())) is ACK
    assert graph.marked_read == []


async def test_a_transient_failure_is_retried() -> None:
    graph = ScriptedGraphApi(receipt_script=[refusal(131016, retryable=True)])

    outcome = await handler(graph)(delivery(requested()))

    assert isinstance(outcome, Retry) and "131016" in outcome.reason


async def test_a_permanent_failure_is_dead_lettered_with_the_whatsapp_error() -> None:
    graph = ScriptedGraphApi(receipt_script=[refusal(100, retryable=False)])

    outcome = await handler(graph)(delivery(requested()))

    assert outcome == DeadLetter("100 error 100: why", slug=REFUSED)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"\xff\xffnot a protobuf", "not a TypingIndicatorRequested"),
        (requested(wamid="").SerializeToString(), "lacks wamid"),
        (requested(phone_number_id="", request_id="").SerializeToString(), "lacks request_id"),
        (
            ai_pb2.TypingIndicatorRequested(
                request_id="r", phone_number_id=PHONE_NUMBER_ID, wamid=WAMID
            ).SerializeToString(),
            "lacks requested_at",
        ),
    ],
    ids=["garbage", "no-wamid", "no-number", "no-time"],
)
async def test_an_unreadable_request_is_dead_lettered_without_a_call(
    payload: bytes, problem: str
) -> None:
    graph = ScriptedGraphApi()

    outcome = await handler(graph)(delivery(payload))

    assert isinstance(outcome, DeadLetter) and outcome.slug == "undecodable"
    assert problem in outcome.reason
    assert graph.marked_read == []
