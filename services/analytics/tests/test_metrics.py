"""Metrics.GetMetrics over gRPC, on a scripted set of conversations worked out by hand.

The script (`script`), on business number N1 unless said, times in UTC; the period asked is
[2025-06-01 10:00, 2025-06-03 00:00):

  Z  N1  created 06-01 09:00:02, before the period: AI answers in 50 s, 10,000 prompt tokens.
  A  N1  SERVICE, created 06-01 10:00:00 (the period's first instant, so included).
         a1 10:01:00, AI reply 10:01:02 (2 s; 1,000 prompt + 500 completion tokens);
         a2 10:05:00, a3 10:05:01, one AI reply 10:05:04 answering both: ONE response of
         4 s, from a2, the first unanswered (2,000 prompt tokens). 5 messages.
  B  N1  MARKETING, opened by the business, created 06-01 11:00:00.
         An operator's template 11:00:01 answers nothing; billed as marketing (0.05).
         b1 12:00:00, handed off 12:00:01, operator reply 12:00:10 (10 s);
         b2 12:30:00 never answered; completed 13:00:00. 4 messages.
  C  N1  SERVICE, created 06-02 08:00:00.
         c1 08:01:00, AI reply 08:01:06 (6 s; 500 + 250 tokens; billed as utility, 0.01);
         c2 08:02:00, flow reply 08:02:03 (3 s, a flow: neither AI nor human);
         c3 08:03:00, handed off 08:03:01, operator reply 08:03:30 (30 s). 6 messages.
  D  N2  SERVICE, created 06-02 09:00:00: d1, AI reply 8 s later (1,000 + 1,000 tokens).
  E  N1  created 06-03 00:00:00 (the period's end, so excluded): operator answers in 99 s.

Rates: every model 1 per 1,000 prompt and 2 per 1,000 completion tokens; WhatsApp marketing
0.05, utility 0.01, anything else 0.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from threadline.analytics.domain.write.rates import Rates, TokenPrice
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc
from threadline.contracts.events.v1 import common_pb2
from threadline.contracts.events.v1.session_pb2 import SessionEvent

if TYPE_CHECKING:
    from conftest import EventLog, RunningAnalytics

PERIOD_FROM = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
PERIOD_TO = datetime(2025, 6, 3, 0, 0, tzinfo=UTC)
MARKETING = common_pb2.Pricing(billable=True, category="marketing", pricing_model="PMP")
UTILITY = common_pb2.Pricing(billable=True, category="utility", pricing_model="PMP")


@pytest.fixture
def rates() -> Rates:
    return Rates(
        currency="USD",
        language_models={"default": TokenPrice(Decimal(1), Decimal(2))},
        whatsapp={"default": Decimal(0), "marketing": Decimal("0.05"), "utility": Decimal("0.01")},
    )


def stamp(moment: datetime) -> Timestamp:
    stamped = Timestamp()
    stamped.FromDatetime(moment)
    return stamped


def at(log: EventLog, moment: datetime, event: Any, *args: Any, **kwargs: Any) -> SessionEvent:
    """The event `log.<event>(*args, **kwargs)`, recorded exactly at `moment`."""
    log.wait(moment - log.now - timedelta(seconds=1))
    built: SessionEvent = getattr(log, event)(*args, **kwargs)
    return built


def started(
    log: EventLog, moment: datetime, *, number: str = "", category: str = "SERVICE", **more: Any
) -> tuple[UUID, list[SessionEvent]]:
    """A contact and its conversation, created exactly at `moment`."""
    contact, conversation = uuid4(), uuid4()
    events = [
        at(log, moment - timedelta(seconds=1), "contact", contact, number=number),
        log.conversation(conversation, contact, number=number, category=category, **more),
    ]
    return conversation, events


def day(d: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2025, 6, d, hour, minute, second, tzinfo=UTC)


async def script(analytics: RunningAnalytics, log: EventLog) -> None:
    """Publish conversations Z, A, B, C, D and E of the module docstring."""
    z, events = started(log, day(1, 9, 0, 2))
    events += [
        at(log, day(1, 9, 0, 3), "inbound", z, "z1"),
        at(log, day(1, 9, 0, 53), "queued", z, "r-z1", prompt_tokens=10_000),
    ]
    a, more = started(log, PERIOD_FROM)
    events += [
        *more,
        at(log, day(1, 10, 1), "inbound", a, "a1"),
        at(log, day(1, 10, 1, 2), "queued", a, "r-a1", prompt_tokens=1000, completion_tokens=500),
        at(log, day(1, 10, 5), "inbound", a, "a2"),
        at(log, day(1, 10, 5, 1), "inbound", a, "a3"),
        at(log, day(1, 10, 5, 4), "queued", a, "r-a2", prompt_tokens=2000),
    ]
    b, more = started(log, day(1, 11, 0), category="MARKETING", opened_by="business")
    events += [
        *more,
        at(log, day(1, 11, 0, 1), "queued", b, "t-b", author="agent"),
        at(log, day(1, 11, 0, 2), "status", b, "t-b", "sent", pricing=MARKETING),
        at(log, day(1, 12, 0), "inbound", b, "b1"),
        at(log, day(1, 12, 0, 1), "status_changed", b, "escalated", ai_paused=True, by="ai"),
        at(log, day(1, 12, 0, 10), "queued", b, "r-b1", author="agent"),
        at(log, day(1, 12, 30), "inbound", b, "b2"),
        at(log, day(1, 13, 0), "status_changed", b, "completed"),
    ]
    c, more = started(log, day(2, 8, 0))
    events += [
        *more,
        at(log, day(2, 8, 1), "inbound", c, "c1"),
        at(log, day(2, 8, 1, 6), "queued", c, "r-c1", prompt_tokens=500, completion_tokens=250),
        at(log, day(2, 8, 1, 7), "status", c, "r-c1", "sent", pricing=UTILITY),
        at(log, day(2, 8, 2), "inbound", c, "c2"),
        at(log, day(2, 8, 2, 3), "queued", c, "r-c2", author="flow"),
        at(log, day(2, 8, 3), "inbound", c, "c3"),
        at(log, day(2, 8, 3, 1), "status_changed", c, "escalated", ai_paused=True, by="ai"),
        at(log, day(2, 8, 3, 30), "queued", c, "r-c3", author="agent"),
    ]
    d, more = started(log, day(2, 9, 0), number=analytics.other_number)
    events += [
        *more,
        at(log, day(2, 9, 1), "inbound", d, "d1"),
        at(log, day(2, 9, 1, 8), "queued", d, "r-d1", prompt_tokens=1000, completion_tokens=1000),
    ]
    e, more = started(log, PERIOD_TO)
    events += [
        *more,
        at(log, day(3, 0, 1), "inbound", e, "e1"),
        at(log, day(3, 0, 2, 39), "queued", e, "r-e1", author="agent"),
    ]
    await analytics.publish(*events)
    await analytics.projected(log.position)


async def metrics(
    analytics: RunningAnalytics,
    *,
    metadata: tuple[tuple[str, str], ...] | None = None,
    period: tuple[datetime | None, datetime | None] = (PERIOD_FROM, PERIOD_TO),
    **criteria: Any,
) -> pb.GetMetricsResponse:
    request = pb.GetMetricsRequest(filter=pb.ConversationFilter(**criteria))
    if period[0] is not None:
        request.period_from.CopyFrom(stamp(period[0]))
    if period[1] is not None:
        request.period_to.CopyFrom(stamp(period[1]))
    stub = analytics_pb2_grpc.MetricsStub(analytics.channel)
    found: pb.GetMetricsResponse = await stub.GetMetrics(
        request, metadata=metadata or analytics.reader
    )
    return found


async def test_volumes_and_the_response_rate_count_the_period_and_the_number_asked(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    await script(analytics, log)

    found = await metrics(analytics, business_number=analytics.business_number)

    # A, B and C: Z is before the period, E at its (exclusive) end, D on another number.
    assert found.total_conversations == 3
    # (5 + 4 + 6) messages / 3 conversations.
    assert found.messages_per_conversation == pytest.approx(5.0)
    # Customer messages a1 a2 a3 b1 b2 c1 c2 c3 = 8. The AI answered a1 a2 a3 c1: 4 / 8; an
    # operator answered b1 and c3, a flow c2, and b2 got nothing, so all but b2: 7 / 8.
    assert found.response_rate == pytest.approx(0.5)
    assert found.answered_rate == pytest.approx(0.875)
    # B and C were each handed off once.
    assert found.hand_offs == 2


async def test_response_times_count_each_reply_once_from_the_first_unanswered_message(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    await script(analytics, log)

    found = await metrics(analytics, business_number=analytics.business_number)

    # AI: 2 s (a1), 4 s (a2 and a3 by one reply, timed from a2), 6 s (c1). Average
    # 12 / 3 = 4; p90 (linear): rank 0.9 * (3 - 1) = 1.8, so 4 + 0.8 * (6 - 4) = 5.6.
    # (Counting the reply once per message it answered would give 4 responses, p90 5.4.)
    assert found.ai_response_time.responses == 3
    assert found.ai_response_time.average_seconds == pytest.approx(4.0)
    assert found.ai_response_time.p90_seconds == pytest.approx(5.6)
    # Humans: 10 s (b1), 30 s (c3); the flow's 3 s (c2) is neither. Average 20; p90: rank
    # 0.9 * 1 = 0.9, so 10 + 0.9 * 20 = 28. The template before b1 answered nothing.
    assert found.human_response_time.responses == 2
    assert found.human_response_time.average_seconds == pytest.approx(20.0)
    assert found.human_response_time.p90_seconds == pytest.approx(28.0)


async def test_costs_and_tokens_add_up_the_language_model_and_whatsapp(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    await script(analytics, log)

    found = await metrics(analytics, business_number=analytics.business_number)

    # Tokens: prompt 1,000 + 2,000 + 500 = 3,500; completion 500 + 0 + 250 = 750.
    assert (found.prompt_tokens, found.completion_tokens) == (3500, 750)
    # Language model: r-a1 1 + 1, r-a2 2 + 0, r-c1 0.5 + 0.5 → 5.
    assert found.language_model_cost == pytest.approx(5.0)
    # WhatsApp: B's marketing template 0.05 + C's utility-priced reply 0.01.
    assert found.whatsapp_cost == pytest.approx(0.06)
    assert found.total_cost == pytest.approx(5.06)
    assert found.cost_per_conversation == pytest.approx(5.06 / 3)


async def test_conversations_are_counted_by_category_and_by_status(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    await script(analytics, log)

    found = await metrics(analytics, business_number=analytics.business_number)

    assert [(c.key, c.count) for c in found.by_category] == [("MARKETING", 1), ("SERVICE", 2)]
    # A still active, B completed, C escalated.
    assert [(c.key, c.count) for c in found.by_status] == [
        ("active", 1),
        ("completed", 1),
        ("escalated", 1),
    ]


async def test_the_series_has_one_entry_per_utc_day_of_creation(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    await script(analytics, log)

    found = await metrics(analytics, business_number=analytics.business_number)

    # 06-01: A and B; customer messages 3 + 2 = 5, answered by the AI 3 (a1 a2 a3) → 0.6, by
    # anyone 3 + 1 (b1, an operator) = 4 → 0.8; replies that answered: r-a1, r-a2, r-b1 = 3;
    # cost A (2 + 2) + B 0.05 = 4.05.
    # 06-02: C; 3 messages, all answered by r-c1 (AI), r-c2 (flow), r-c3 (operator), so the AI
    # answered 1 / 3; cost 1 + 0.01 = 1.01.
    assert [(d.day, d.conversations, d.customer_messages, d.replies) for d in found.series] == [
        ("2025-06-01", 2, 5, 3),
        ("2025-06-02", 1, 3, 3),
    ]
    assert [d.response_rate for d in found.series] == pytest.approx([0.6, 1 / 3])
    assert [d.answered_rate for d in found.series] == pytest.approx([0.8, 1.0])
    assert [d.cost for d in found.series] == pytest.approx([4.05, 1.01])


async def test_days_without_conversations_inside_the_series_are_zeros(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    _, events = started(log, day(1, 12, 0))
    _, more = started(log, day(3, 12, 0))
    await analytics.publish(*events, *more)
    await analytics.projected(log.position)

    found = await metrics(analytics, period=(None, None))

    assert [(d.day, d.conversations, d.response_rate, d.answered_rate) for d in found.series] == [
        ("2025-06-01", 1, 0.0, 0.0),
        ("2025-06-02", 0, 0.0, 0.0),
        ("2025-06-03", 1, 0.0, 0.0),
    ]


async def test_an_unset_period_is_unbounded(analytics: RunningAnalytics, log: EventLog) -> None:
    await script(analytics, log)

    found = await metrics(analytics, period=(None, None), business_number=analytics.business_number)
    since = await metrics(analytics, period=(PERIOD_FROM, None))

    # Z, A, B, C and E; then A, B, C, D and E.
    assert found.total_conversations == 5
    assert since.total_conversations == 5
    # Z's 50 s and E's 99 s now count: AI 2, 4, 6, 50; humans 10, 30, 99.
    assert found.ai_response_time.average_seconds == pytest.approx(62 / 4)
    assert found.human_response_time.average_seconds == pytest.approx(139 / 3)


async def test_the_filter_narrows_the_conversations_measured(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    await script(analytics, log)

    found = await metrics(analytics, status="escalated")

    # Only C: 6 messages, c1 c2 c3 all answered but only c1 by the AI, AI 6 s, a human 30 s,
    # cost 1 + 0.01.
    assert (found.total_conversations, found.messages_per_conversation) == (1, 6.0)
    assert (found.response_rate, found.answered_rate) == pytest.approx((1 / 3, 1.0))
    assert found.ai_response_time.average_seconds == pytest.approx(6.0)
    assert found.human_response_time.p90_seconds == pytest.approx(30.0)
    assert found.total_cost == pytest.approx(1.01)


async def test_a_token_measures_only_its_own_business_numbers(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    await script(analytics, log)

    own = await metrics(analytics, metadata=analytics.tenant)
    foreign = await metrics(
        analytics, metadata=analytics.tenant, business_number=analytics.business_number
    )
    everything = await metrics(analytics)

    # The tenant's number has D alone: 2 messages, answered in 8 s, 1 + 2 = 3 in tokens.
    assert (own.total_conversations, own.messages_per_conversation, own.response_rate) == (
        1,
        2.0,
        1.0,
    )
    assert own.ai_response_time.average_seconds == 8.0
    assert own.total_cost == pytest.approx(3.0)
    assert [(d.day, d.conversations) for d in own.series] == [("2025-06-02", 1)]
    # Asking for another number's conversations finds nothing, rather than an error.
    assert foreign == pb.GetMetricsResponse(
        ai_response_time=pb.ResponseTimes(), human_response_time=pb.ResponseTimes()
    )
    # A token for every number sees A, B, C and D.
    assert everything.total_conversations == 4


async def test_a_period_that_does_not_move_forward_is_an_invalid_argument(
    analytics: RunningAnalytics,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await metrics(analytics, period=(PERIOD_TO, PERIOD_FROM))

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "period_from must be before period_to" in (refused.value.details() or "")


async def test_a_malformed_filter_is_an_invalid_argument(analytics: RunningAnalytics) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await metrics(analytics, lead_id="not-a-uuid")

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "lead_id" in (refused.value.details() or "")


async def test_metrics_need_the_read_role(analytics: RunningAnalytics) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await metrics(analytics, metadata=analytics.writer)

    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
