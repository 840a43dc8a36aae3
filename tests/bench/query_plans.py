"""What PostgreSQL does with the listing's statements: plans, the indexes of migration 3, and
the page statement the service runs (a deferred join) measured beside the earlier one that
joined every skipped row."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from tests.bench.conversation_data import Dataset
from threadline.analytics.adapters.outbound.read_models import migration_3
from threadline.analytics.application.read.columns import CONVERSATION_COLUMNS
from threadline.analytics.application.read.filter_sql import conversation_condition
from threadline.analytics.application.read.queries import (  # the statements the service runs
    _COUNT,
    _ESTIMATE,
    _PAGE,
    COUNT_BOUND,
    counted_page,
)
from threadline.analytics.domain.read.criteria import ConversationFilter, Paging
from threadline.servicekit.auth import Principal

EVERYONE = Principal(roles=frozenset({"read"}), numbers=None)
NEW_INDEXES = tuple(
    re.findall(r"CREATE INDEX (\w+)", " ".join(migration_3.STATEMENTS))
)  # migration 3's
# The page statement before the deferred join was adopted: every skipped row is joined to
# its contact before the page is cut (the simple way, measured beside the one that runs).
JOINED_PAGE = sql.SQL(
    "SELECT c.last_activity_at AS listed_at, "
    + CONVERSATION_COLUMNS
    + """
    FROM analytics.conversations c
    LEFT JOIN analytics.contacts ct ON ct.id = c.lead_id
    WHERE {} ORDER BY c.last_activity_at DESC, c.id DESC LIMIT %(limit)s OFFSET %(offset)s
"""
)


@dataclass(frozen=True, slots=True)
class Plan:
    """One statement's EXPLAIN ANALYZE: its time, its scans, and the whole plan."""

    milliseconds: float
    scans: tuple[str, ...]
    lines: tuple[str, ...]

    @classmethod
    def of(cls, lines: list[str]) -> Plan:
        found = re.search(r"Execution Time: ([\d.]+) ms", "\n".join(lines))
        scans = tuple(
            dict.fromkeys(
                re.sub(r"\s+\(cost.*", "", line.strip().removeprefix("->  "))
                for line in lines
                if " Scan " in line or line.strip().startswith(("->  Seq Scan", "Seq Scan"))
            )
        )
        return cls(float(found.group(1)) if found else 0.0, scans, tuple(lines))


def cases(data: Dataset) -> list[tuple[str, ConversationFilter, Principal, Paging]]:
    tenant = Principal(roles=frozenset({"read"}), numbers=frozenset({data.numbers[0]}))
    phone = data.customer_phones[len(data.customer_phones) // 2]
    last = Paging(page=(data.conversations + 19) // 20)
    return [
        ("page 1, no filter", ConversationFilter(), EVERYONE, Paging()),
        ("page 1, tenant token", ConversationFilter(), tenant, Paging()),
        ("last page, no filter", ConversationFilter(), EVERYONE, last),
        ("status completed", ConversationFilter(status="completed"), EVERYONE, Paging()),
        ("status escalated", ConversationFilter(status="escalated"), EVERYONE, Paging()),
        ("status escalated, tenant", ConversationFilter(status="escalated"), tenant, Paging()),
        (
            "number + status active",
            ConversationFilter(business_number=data.numbers[0], status="active"),
            EVERYONE,
            Paging(),
        ),
        ("customer_phone", ConversationFilter(customer_phone=phone), EVERYONE, Paging()),
    ]


def explained(database_url: str, data: Dataset) -> dict[str, Plan]:
    """EXPLAIN ANALYZE of the listing statement the service runs (the count and the page in
    one), case by case."""
    plans: dict[str, Plan] = {}
    with psycopg.connect(database_url, autocommit=True) as connection:
        for name, criteria, viewer, paging in cases(data):
            where, params = conversation_condition(criteria, viewer)
            values = {
                **params,
                "count_limit": COUNT_BOUND + 1,
                "limit": paging.size,
                "offset": paging.offset,
            }
            explain = sql.SQL("EXPLAIN (ANALYZE, BUFFERS) {}").format(counted_page(where))
            rows = connection.execute(explain, values).fetchall()
            plans[name] = Plan.of([str(row[0]) for row in rows])
    return plans


def drop_new_indexes(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        for name in NEW_INDEXES:
            connection.execute(sql.SQL("DROP INDEX analytics.{}").format(sql.Identifier(name)))
        connection.execute("ANALYZE analytics.conversations")


def create_new_indexes(database_url: str) -> None:
    """Build migration 3's indexes again, with the migration's own statements."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        for statement in migration_3.STATEMENTS:
            connection.execute(statement)
        connection.execute("ANALYZE analytics.conversations")


def deep_pages(
    database_url: str, data: Dataset, *, repeats: int = 7
) -> dict[int, tuple[float, float]]:
    """Median ms of `JOINED_PAGE` and of the page statement as it runs (the deferred join), by
    offset (same rows)."""
    last = (data.conversations - 1) // 20 * 20
    offsets = sorted({o for o in (0, 980, 10_000, data.conversations // 2, last) if o <= last})
    where, params = conversation_condition(ConversationFilter(), EVERYONE)
    timed: dict[int, tuple[float, float]] = {}
    with psycopg.connect(database_url, autocommit=True) as connection:
        for offset in offsets:
            values = {**params, "limit": 20, "offset": offset}
            joined = _median_ms(connection, JOINED_PAGE.format(where), values, repeats)
            deferred = _median_ms(connection, _PAGE.format(where), values, repeats)
            same = connection.execute(_PAGE.format(where), values).fetchall()
            assert same == connection.execute(JOINED_PAGE.format(where), values).fetchall()
            timed[offset] = (joined, deferred)
    return timed


EXACT_COUNT = sql.SQL("SELECT count(*) FROM analytics.conversations c WHERE {}")


def count_ways(
    database_url: str, data: Dataset, *, repeats: int = 15
) -> dict[str, tuple[int, float, int, float]]:
    """By case: the exact count and its median ms, beside what the service gives (counted up
    to `COUNT_BOUND`, then the planner's estimate) and its median ms (the count and, past the
    bound, the EXPLAIN)."""
    timed: dict[str, tuple[int, float, int, float]] = {}
    with psycopg.connect(database_url, autocommit=True) as connection:
        for name, criteria, viewer, _ in cases(data):
            where, params = conversation_condition(criteria, viewer)
            exact = int(connection.execute(EXACT_COUNT.format(where), params).fetchone()[0])
            exact_ms = _median_ms(connection, EXACT_COUNT.format(where), params, repeats)
            bounded = {**params, "count_limit": COUNT_BOUND + 1}
            seconds = []
            for _ in range(repeats):
                began = time.perf_counter()
                given = int(connection.execute(_COUNT.format(where), bounded).fetchone()[0])
                if given > COUNT_BOUND:
                    plan = connection.execute(_ESTIMATE.format(where), params).fetchone()[0]
                    given = max(int(plan[0]["Plan"]["Plan Rows"]), COUNT_BOUND + 1)
                seconds.append(time.perf_counter() - began)
            timed[name] = (exact, exact_ms, given, statistics.median(seconds) * 1000)
    return timed


def _median_ms(
    connection: psycopg.Connection[Any],
    statement: sql.Composed,
    values: Mapping[str, object],
    repeats: int,
) -> float:
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        connection.execute(statement, values).fetchall()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds) * 1000
