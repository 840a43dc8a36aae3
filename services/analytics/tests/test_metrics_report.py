from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

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


def test_a_period_must_move_forward() -> None:
    with pytest.raises(InvalidQuery, match="period_from must be before period_to"):
        Period.of(JUNE, JUNE)


def test_a_period_may_be_open_at_either_end() -> None:
    conditions, params = Period.of(JUNE, None).condition()

    assert len(conditions) == 1 and params == {"period_from": JUNE}
    assert Period.of(None, None).condition() == ([], {})


def test_nothing_to_measure_gives_zeros_not_errors() -> None:
    empty = report()

    assert (empty.messages_per_conversation, empty.response_rate) == (0.0, 0.0)
    assert empty.cost_per_conversation == Decimal(0)


def test_the_ratios_come_from_the_sums() -> None:
    days = (
        DayMetrics(
            date(2025, 6, 1), 2, customer_messages=5, answered=4, replies=3, cost=Decimal(3)
        ),
        DayMetrics(
            date(2025, 6, 2), 1, customer_messages=3, answered=3, replies=3, cost=Decimal(0)
        ),
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
