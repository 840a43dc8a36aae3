from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from threadline.analytics.application.read.conversation_metrics import (
    DayMetrics,
    MetricsReport,
    Period,
    ResponseTimes,
)
from threadline.analytics.domain.read.errors import InvalidQuery

JUNE = datetime(2025, 6, 1, tzinfo=UTC)


def report(**figures: object) -> MetricsReport:
    defaults: dict[str, object] = {
        "conversations": 0,
        "messages": 0,
        "ai": ResponseTimes(),
        "human": ResponseTimes(),
        "language_model_cost": Decimal(0),
        "whatsapp_cost": Decimal(0),
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "hand_offs": 0,
        "by_category": (),
        "by_status": (),
        "series": (),
    }
    return MetricsReport(**{**defaults, **figures})  # type: ignore[arg-type]


def june(
    day: int, customer_messages: int, answered: int, answered_by_ai: int, **more: Any
) -> DayMetrics:
    """A day's figures: customer messages, those answered by any reply, those by the AI."""
    figures: dict[str, Any] = {"conversations": 1, "replies": 0, "cost": Decimal(0), **more}
    return DayMetrics(
        day=date(2025, 6, day),
        customer_messages=customer_messages,
        answered=answered,
        answered_by_ai=answered_by_ai,
        **figures,
    )


def test_a_period_must_move_forward() -> None:
    with pytest.raises(InvalidQuery, match="period_from must be before period_to"):
        Period.of(JUNE, JUNE)


def test_a_period_may_be_open_at_either_end() -> None:
    conditions, params = Period.of(JUNE, None).condition()

    assert len(conditions) == 1 and params == {"period_from": JUNE}
    assert Period.of(None, None).condition() == ([], {})


def test_nothing_to_measure_gives_zeros_not_errors() -> None:
    empty = report()

    assert empty.messages_per_conversation == 0.0
    assert (empty.response_rate, empty.answered_rate) == (0.0, 0.0)
    assert empty.cost_per_conversation == Decimal(0)


def test_the_ratios_come_from_the_sums() -> None:
    days = (
        june(1, 5, 4, 4, conversations=2, replies=3, cost=Decimal(3)),
        june(2, 3, 3, 3, conversations=1, replies=3),
    )

    found = report(
        conversations=3,
        messages=15,
        language_model_cost=Decimal(2),
        whatsapp_cost=Decimal(1),
        series=days,
    )

    assert (found.messages_per_conversation, found.response_rate) == (5.0, 7 / 8)
    assert (found.total_cost, found.cost_per_conversation) == (Decimal(3), Decimal(1))
    assert days[0].response_rate == 0.8


def test_the_response_rate_counts_only_what_the_ai_answered() -> None:
    # June 1: 4 customer messages; the AI answered 2, an operator 1, one went unanswered.
    # June 2: 2 customer messages, both answered by an operator after a hand-off.
    days = (june(1, 4, 3, 2), june(2, 2, 2, 0))

    found = report(conversations=2, messages=9, series=days)

    assert [(d.response_rate, d.answered_rate) for d in days] == [(0.5, 0.75), (0.0, 1.0)]
    assert (found.answered_by_ai, found.answered, found.customer_messages) == (2, 5, 6)
    assert (found.response_rate, found.answered_rate) == (2 / 6, 5 / 6)
