"""Metrics over the conversations created in a period: volumes, answers, response times, cost.

`ConversationMetrics.report` reads sums from the read models in one snapshot; `MetricsReport`
derives the ratios. The response rate is the assistant's: customer messages the AI answered
(their first reply was an AI one) over customer messages, so a hand-off to an operator or an
unanswered message both lower it; the share answered by any reply (AI, operator or flow) is
the answered rate beside it. The exact definitions are in `docs/read-models.md` ("Metrics
definitions").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncCursor, sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from threadline.analytics.application.read.conversation_metrics_sql import (
    COUNTS,
    RESPONSE_TIMES,
    SERIES,
    TOTALS,
)
from threadline.analytics.application.read.filter_sql import reported_condition
from threadline.analytics.domain.read.criteria import ConversationFilter
from threadline.analytics.domain.read.errors import InvalidQuery
from threadline.servicekit.auth import Principal

AI = "ai"  # also in `conversation_metrics_sql.SERIES` (`answered_by_ai`)
HUMAN = "agent"  # an operator answering in the platform; `flow` replies are neither


@dataclass(frozen=True, slots=True)
class Period:
    """Conversations created in [start, end); an end left unset is open."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def of(cls, start: datetime | None, end: datetime | None) -> Period:
        if start is not None and end is not None and start >= end:
            raise InvalidQuery(
                "period_from must be before period_to (from is inclusive, to exclusive),"
                f" got {start.isoformat()} and {end.isoformat()}"
            )
        return cls(start, end)

    def condition(self) -> tuple[list[sql.Composable], dict[str, object]]:
        """Conditions on conversations `c` and their parameters."""
        conditions: list[sql.Composable] = []
        params: dict[str, object] = {}
        if self.start is not None:
            conditions.append(sql.SQL("c.created_at >= %(period_from)s"))
            params["period_from"] = self.start
        if self.end is not None:
            conditions.append(sql.SQL("c.created_at < %(period_to)s"))
            params["period_to"] = self.end
        return conditions, params


@dataclass(frozen=True, slots=True)
class ResponseTimes:
    """Replies by one kind of responder, each counted once, timed from the first message
    it answered."""

    average_seconds: float = 0.0
    p90_seconds: float = 0.0
    responses: int = 0


@dataclass(frozen=True, slots=True)
class DayMetrics:
    """The conversations created on one UTC day."""

    day: date
    conversations: int
    customer_messages: int
    answered: int  # by any reply
    answered_by_ai: int  # whose first reply was the assistant's
    replies: int
    cost: Decimal

    @property
    def response_rate(self) -> float:
        return ratio(self.answered_by_ai, self.customer_messages)

    @property
    def answered_rate(self) -> float:
        return ratio(self.answered, self.customer_messages)


@dataclass(frozen=True, slots=True)
class MetricsReport:
    """What the conversations in scope add up to; ratios are 0 when there is nothing to
    divide by."""

    conversations: int
    messages: int
    ai: ResponseTimes
    human: ResponseTimes
    language_model_cost: Decimal
    whatsapp_cost: Decimal
    prompt_tokens: int
    completion_tokens: int
    hand_offs: int
    by_category: tuple[tuple[str, int], ...]
    by_status: tuple[tuple[str, int], ...]
    series: tuple[DayMetrics, ...]

    @property
    def customer_messages(self) -> int:
        return sum(day.customer_messages for day in self.series)

    @property
    def answered(self) -> int:
        return sum(day.answered for day in self.series)

    @property
    def answered_by_ai(self) -> int:
        return sum(day.answered_by_ai for day in self.series)

    @property
    def messages_per_conversation(self) -> float:
        return ratio(self.messages, self.conversations)

    @property
    def response_rate(self) -> float:
        return ratio(self.answered_by_ai, self.customer_messages)

    @property
    def answered_rate(self) -> float:
        return ratio(self.answered, self.customer_messages)

    @property
    def total_cost(self) -> Decimal:
        return self.language_model_cost + self.whatsapp_cost

    @property
    def cost_per_conversation(self) -> Decimal:
        if not self.conversations:
            return Decimal(0)
        return self.total_cost / self.conversations


def ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


class ConversationMetrics:
    """Metrics on behalf of a caller, over the business numbers it may see."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def report(
        self, viewer: Principal, criteria: ConversationFilter, period: Period
    ) -> MetricsReport:
        """The metrics of the conversations created in `period` that meet `criteria`."""
        viewer.require_role("read")
        where, params = _scope(viewer, criteria, period)
        async with (
            self._pool.connection() as connection,
            connection.transaction(),
            connection.cursor(row_factory=dict_row) as cursor,
        ):
            await cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            totals = await _one(cursor, TOTALS.format(where=where), params)
            times = await _all(cursor, RESPONSE_TIMES.format(where=where), params)
            counts = await _all(cursor, COUNTS.format(where=where), params)
            days = await _all(cursor, SERIES.format(where=where), params)
        return _report(totals, times, counts, days)


def _scope(
    viewer: Principal, criteria: ConversationFilter, period: Period
) -> tuple[sql.Composable, dict[str, object]]:
    where, params = reported_condition(criteria, viewer)
    in_period, period_params = period.condition()
    return sql.SQL(" AND ").join([where, *in_period]), {**params, **period_params}


Cursor = AsyncCursor[DictRow]


async def _one(cursor: Cursor, query: sql.Composed, params: dict[str, object]) -> DictRow:
    await cursor.execute(query, params)
    row = await cursor.fetchone()
    if row is None:  # an aggregate without GROUP BY always has a row
        raise RuntimeError("the metrics totals returned no row")
    return row


async def _all(cursor: Cursor, query: sql.Composed, params: dict[str, object]) -> list[DictRow]:
    await cursor.execute(query, params)
    return await cursor.fetchall()


def _report(
    totals: Mapping[str, Any],
    times: Sequence[Mapping[str, Any]],
    counts: Sequence[Mapping[str, Any]],
    days: Sequence[Mapping[str, Any]],
) -> MetricsReport:
    by_responder = {row["answered_by"]: _times(row) for row in times}
    return MetricsReport(
        conversations=int(totals["conversations"]),
        messages=int(totals["messages"]),
        ai=by_responder.get(AI, ResponseTimes()),
        human=by_responder.get(HUMAN, ResponseTimes()),
        language_model_cost=Decimal(totals["language_model_cost"]),
        whatsapp_cost=Decimal(totals["whatsapp_cost"]),
        prompt_tokens=int(totals["prompt_tokens"]),
        completion_tokens=int(totals["completion_tokens"]),
        hand_offs=int(totals["hand_offs"]),
        by_category=tuple(
            (row["category"], int(row["conversations"])) for row in counts if not row["by_status"]
        ),
        by_status=tuple(
            (row["status"], int(row["conversations"])) for row in counts if row["by_status"]
        ),
        series=tuple(
            DayMetrics(
                day=row["day"],
                conversations=int(row["conversations"]),
                customer_messages=int(row["customer_messages"]),
                answered=int(row["answered"]),
                answered_by_ai=int(row["answered_by_ai"]),
                replies=int(row["replies"]),
                cost=Decimal(row["cost"]),
            )
            for row in days
        ),
    )


def _times(row: Mapping[str, Any]) -> ResponseTimes:
    return ResponseTimes(
        average_seconds=float(row["average_seconds"]),
        p90_seconds=float(row["p90_seconds"]),
        responses=int(row["responses"]),
    )
