"""Metrics.ExportConversations over gRPC: CSV and JSON Lines, streamed in chunks."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import grpc
import psycopg
import pytest

from threadline.analytics.application.read.export import CHUNK_BYTES
from threadline.analytics.application.read.export_formats import CONVERSATION_FIELDS
from threadline.analytics.domain.write.rates import Rates, TokenPrice
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc
from threadline.testing import eventually

if TYPE_CHECKING:
    from conftest import EventLog, RunningAnalytics

TRICKY = 'Hi, I said "hello"\nagain — café ☕'
MANY = 5000
START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def rates() -> Rates:
    return Rates(language_models={"default": TokenPrice(Decimal(1), Decimal(2))})


async def exported(
    analytics: RunningAnalytics,
    *,
    metadata: tuple[tuple[str, str], ...] | None = None,
    format: str = "",
    include_messages: bool = False,
    **criteria: Any,
) -> list[bytes]:
    """The chunks of an export, as they arrived."""
    stub = analytics_pb2_grpc.MetricsStub(analytics.channel)
    request = pb.ExportConversationsRequest(
        filter=pb.ConversationFilter(**criteria), format=format, include_messages=include_messages
    )
    call = stub.ExportConversations(request, metadata=metadata or analytics.reader)
    return [chunk.data async for chunk in call]


def csv_rows(chunks: list[bytes]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(chunks).decode(), newline="")))


def json_lines(chunks: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in b"".join(chunks).decode().splitlines()]


async def two_conversations(analytics: RunningAnalytics, log: EventLog) -> tuple[UUID, UUID]:
    """The first: a customer message, an AI reply (400 prompt tokens), then `TRICKY`; the
    second: one customer message."""
    first, second, contact = uuid4(), uuid4(), uuid4()
    await analytics.publish(
        log.contact(contact),
        log.conversation(first, contact),
        log.inbound(first, "m-1"),
        log.queued(first, "m-2", model="alpha", prompt_tokens=400),
        log.inbound(first, "m-3", text=TRICKY),
        log.conversation(second, contact),
        log.inbound(second, "m-4", text="second"),
    )
    await analytics.projected(log.position)
    return first, second


async def test_csv_is_the_default_with_a_header_and_one_row_per_conversation(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    first, second = await two_conversations(analytics, log)

    chunks = await exported(analytics)
    [one, two] = csv_rows(chunks)

    assert b"".join(chunks).decode().splitlines()[0].split(",") == list(CONVERSATION_FIELDS)
    assert (one["id"], two["id"]) == (str(first), str(second))  # oldest first
    assert (one["lead_name"], one["message_count"], one["assistant"]) == ("Ana", "3", "alpha")
    assert one["last_message_preview"] == TRICKY
    # 400 prompt tokens at 1 per 1,000.
    assert (Decimal(one["llm_cost"]), Decimal(one["cost"]), one["tokens"]) == (
        Decimal("0.4"),
        Decimal("0.4"),
        "400",
    )
    assert (one["ai_paused"], one["closed_at"]) == ("false", "")
    created = datetime.fromisoformat(two["created_at"])
    assert two["created_at"].endswith("Z") and created.tzinfo is not None


async def test_csv_follows_rfc_4180_line_endings_and_quoting(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    await two_conversations(analytics, log)

    text = b"".join(await exported(analytics, format="csv")).decode()

    assert text.endswith("\r\n")
    # A field with a comma, a quote or a line break is quoted, its quotes doubled.
    assert '"Hi, I said ""hello""\nagain — café ☕"' in text


async def test_csv_with_messages_adds_message_rows_after_their_conversation(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    first, second = await two_conversations(analytics, log)

    rows = csv_rows(await exported(analytics, include_messages=True))

    assert [(r["kind"], r["id"], r["message_id"]) for r in rows] == [
        ("conversation", str(first), ""),
        ("message", str(first), "m-1"),
        ("message", str(first), "m-2"),
        ("message", str(first), "m-3"),
        ("conversation", str(second), ""),
        ("message", str(second), "m-4"),
    ]
    reply, tricky = rows[2], rows[3]
    assert (reply["message_role"], reply["message_author"], reply["status"]) == (
        "assistant",
        "ai",
        "",  # conversation columns stay empty on a message row
    )
    assert json.loads(reply["message_metadata"])["prompt_tokens"] == 400
    assert tricky["message_content"] == TRICKY


async def test_json_lines_with_messages_put_each_message_after_its_conversation(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    first, second = await two_conversations(analytics, log)

    lines = json_lines(await exported(analytics, format="jsonl", include_messages=True))

    assert [(line["kind"], line["id"]) for line in lines] == [
        ("conversation", str(first)),
        ("message", "m-1"),
        ("message", "m-2"),
        ("message", "m-3"),
        ("conversation", str(second)),
        ("message", "m-4"),
    ]
    conversation, reply, tricky = lines[0], lines[2], lines[3]
    assert conversation["lead"]["name"] == "Ana" and conversation["llm_cost"] == 0.4
    assert conversation["message_count"] == 3 and conversation["closed_at"] is None
    assert (reply["conversation_id"], reply["author"]) == (str(first), "ai")
    assert reply["metadata"]["model"] == "alpha"
    assert tricky["content"] == TRICKY


async def test_json_lines_without_messages_have_only_conversations(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    first, second = await two_conversations(analytics, log)

    lines = json_lines(await exported(analytics, format="jsonl"))

    assert [(line["kind"], line["id"]) for line in lines] == [
        ("conversation", str(first)),
        ("conversation", str(second)),
    ]


async def test_an_empty_export_is_a_header_in_csv_and_nothing_in_json_lines(
    analytics: RunningAnalytics,
) -> None:
    csv_chunks = await exported(analytics)
    json_chunks = await exported(analytics, format="jsonl", include_messages=True)

    assert csv_chunks == [(",".join(CONVERSATION_FIELDS) + "\r\n").encode()]
    assert json_chunks == []


async def test_an_export_applies_the_filter_and_the_tokens_scope(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    mine, theirs, contact = uuid4(), uuid4(), uuid4()
    await analytics.publish(
        log.contact(contact),
        log.conversation(mine, contact),
        log.conversation(theirs, contact, number=analytics.other_number),
        log.inbound(theirs, "t-1"),
    )
    await analytics.projected(log.position)

    by_tenant = csv_rows(await exported(analytics, metadata=analytics.tenant))
    filtered = csv_rows(await exported(analytics, business_number=analytics.business_number))
    foreign = csv_rows(
        await exported(
            analytics, metadata=analytics.tenant, business_number=analytics.business_number
        )
    )

    assert [r["id"] for r in by_tenant] == [str(theirs)]
    assert [r["id"] for r in filtered] == [str(mine)]
    assert foreign == []


async def test_an_unknown_format_is_an_invalid_argument(analytics: RunningAnalytics) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await exported(analytics, format="xml")

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "format must be one of csv, jsonl" in (refused.value.details() or "")


async def test_an_export_with_a_malformed_filter_is_an_invalid_argument(
    analytics: RunningAnalytics,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await exported(analytics, customer_phone="call me")

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_an_export_needs_the_read_role(analytics: RunningAnalytics) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await exported(analytics, metadata=analytics.writer)

    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def many_conversations(
    analytics: RunningAnalytics, count: int, *, messages_each: int = 0
) -> list[str]:
    """`count` conversations (and their messages) written straight into the read models,
    one minute apart; their ids, oldest first."""
    async with await psycopg.AsyncConnection.connect(analytics.database_url) as connection:
        cursor = await connection.execute(
            """
            INSERT INTO analytics.conversations
                (id, lead_id, business_number, session_key, channel, status, customer_wa_id,
                 customer_name, created_at, updated_at, last_message_preview, message_count,
                 llm_cost)
            SELECT gen_random_uuid(), gen_random_uuid(), %(number)s, 'key-' || n, 'whatsapp',
                   'active', (15550000000 + n)::text, 'Customer, "' || n || '"',
                   %(start)s + n * interval '1 minute', %(start)s + n * interval '1 minute',
                   'Preview with a comma, a "quote" and a line' || chr(10) || 'break',
                   %(messages)s, n * 0.001
            FROM generate_series(1, %(count)s) AS n
            RETURNING id, created_at
            """,
            {
                "number": analytics.business_number,
                "start": START,
                "count": count,
                "messages": messages_each,
            },
        )
        ids = [str(row[0]) for row in sorted(await cursor.fetchall(), key=lambda r: r[1])]
        await connection.execute(
            """
            INSERT INTO analytics.messages
                (id, conversation_id, position, role, author, type, content, status,
                 created_at, updated_at)
            SELECT c.id || '-' || k, c.id, k, 'user', 'customer', 'text', 'Message ' || k,
                   'received', c.created_at + k * interval '1 second',
                   c.created_at + k * interval '1 second'
            FROM analytics.conversations c, generate_series(1, %(each)s) AS k
            """,
            {"each": messages_each},
        )
    return ids


async def test_many_conversations_stream_in_chunks_of_whole_rows_up_to_64_kib(
    analytics: RunningAnalytics,
) -> None:
    ids = await many_conversations(analytics, MANY)

    chunks = await exported(analytics)
    rows = csv_rows(chunks)

    assert len(chunks) > 10
    assert all(len(chunk) <= CHUNK_BYTES for chunk in chunks)
    assert all(chunk.endswith(b"\r\n") for chunk in chunks)
    assert [r["id"] for r in rows] == ids
    assert rows[41]["lead_name"] == 'Customer, "42"'
    assert Decimal(rows[41]["llm_cost"]) == Decimal("0.042")
    assert rows[-1]["last_message_preview"] == 'Preview with a comma, a "quote" and a line\nbreak'


async def test_many_conversations_with_their_messages_stream_as_json_lines(
    analytics: RunningAnalytics,
) -> None:
    ids = await many_conversations(analytics, MANY, messages_each=2)

    chunks = await exported(analytics, format="jsonl", include_messages=True)
    lines = json_lines(chunks)

    assert len(chunks) > 10 and all(chunk.endswith(b"\n") for chunk in chunks)
    assert len(lines) == MANY * 3
    assert [line["id"] for line in lines if line["kind"] == "conversation"] == ids
    # Each conversation's line is followed by its two messages, oldest first.
    assert [(line["kind"], line["id"]) for line in lines[3:6]] == [
        ("conversation", ids[1]),
        ("message", f"{ids[1]}-1"),
        ("message", f"{ids[1]}-2"),
    ]


async def open_backends(database_url: str, *states: str) -> list[str]:
    """What the service's database connections in these states last ran."""
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        cursor = await connection.execute(
            """
            SELECT query FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'threadline-analytics'
              AND state = ANY(%s)
            """,
            (list(states),),
        )
        return [row[0] for row in await cursor.fetchall()]


async def test_a_cancelled_export_stops_reading_and_frees_its_connection(
    analytics: RunningAnalytics,
) -> None:
    await many_conversations(analytics, 4 * MANY, messages_each=2)
    stub = analytics_pb2_grpc.MetricsStub(analytics.channel)
    call = stub.ExportConversations(
        pb.ExportConversationsRequest(format="jsonl", include_messages=True),
        metadata=analytics.reader,
    )

    first = await call.read()
    reading = await open_backends(analytics.database_url, "active", "idle in transaction")
    call.cancel()

    async def released() -> bool:
        return not await open_backends(analytics.database_url, "active", "idle in transaction")

    assert isinstance(first, pb.ExportChunk) and first.data
    # Mid-export, the rows come from a server-side cursor, a batch at a time.
    assert any(query.startswith("FETCH FORWARD") for query in reading)
    await eventually(released, timeout=10)
