"""A read model of many conversations, loaded straight into the `analytics` tables with COPY.

The rows have the shapes the projection writes (docs/read-models.md): customer messages with
WhatsApp's raw payload in `metadata`, AI (or, once escalated, agent) replies with their status
history, pricing, model and tokens, and conversations whose counters, preview, window and
costs agree with their messages. Numbers are skewed (one large tenant, several small ones) and
customers come back, so a customer has several conversations. Seeded: the same every run.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

# How the conversations spread over business numbers (one large tenant, a long tail).
NUMBER_WEIGHTS = (0.35, 0.25, 0.15, 0.10, 0.10, 0.05)
STATUS_WEIGHTS = {"completed": 0.78, "abandoned": 0.13, "escalated": 0.06, "active": 0.03}
MODEL = "gpt-4o-mini"
PROMPT_PER_1K, COMPLETION_PER_1K = Decimal("0.00015"), Decimal("0.0006")
CUSTOMER_TEXTS = (
    "Hi, I ordered a blue jacket last week and it still hasn't arrived, can you check?",
    "What are your opening hours on Saturday?",
    "Can I change the delivery address for order {n}?",
    "Thanks!",
    "The app keeps logging me out when I try to pay, is something wrong on your side?",
    "Do you ship to Portugal? And how much does it cost for two items?",
    "I'd like to return the shoes, they are one size too small. How do I do that?",
    "ok",
    "Is the {n} model available in black?",
    "Can I talk to a person please",
)
REPLY_TEXTS = (
    "Hello! I can help with that. Could you share your order number, please?",
    "We're open 9:00 to 18:00 on Saturdays and closed on Sundays.",
    "Done: the delivery address for order {n} is updated. You'll get a new tracking link "
    "by email within the hour.",
    "You're welcome! Is there anything else I can do for you?",
    "I'm sorry about that. Please update the app to the latest version; if it still logs you "
    "out, reply here and a colleague will look into your account.",
    "Yes, we ship to Portugal: delivery takes 3 to 5 working days and costs 4.90 for up to "
    "three items.",
    "Of course. Returns are free within 30 days: open your order, choose 'Return an item' "
    "and drop the parcel at any post office. The refund follows within 5 days.",
    "Model {n} is back in stock in black from next Tuesday. Shall I reserve one for you?",
)
NAMES = ("Ana", "Bruno", "Chloé", "Dmitri", "Eva", "Farid", "Grace", "Hugo", "Inês", "Jonas")


@dataclass(frozen=True, slots=True)
class Dataset:
    """What was loaded, as the benchmark's queries pick from it."""

    numbers: tuple[str, ...]
    conversation_ids: tuple[UUID, ...]
    ids_by_number: dict[str, tuple[UUID, ...]]
    customer_phones: tuple[str, ...]
    conversations: int
    messages: int
    contacts: int


CONTACT_COLUMNS = ("id", "business_number", "wa_id", "user_id", "name", "created_at", "updated_at")
KEY_COLUMNS = ("business_number", "key", "contact_id", "claimed_at")
NUMBER_COLUMNS = ("id", "phone_number_id", "registered_at", "updated_at")
CONVERSATION_COLUMNS = (
    "id", "lead_id", "business_number", "session_key", "channel", "status", "message_count",
    "customer_wa_id", "customer_user_id", "customer_name", "created_at", "updated_at",
    "last_message_at", "last_message_preview", "opened_by", "category", "assistant",
    "ai_paused", "status_reason", "status_changed_by", "status_changed_at", "closed_at",
    "hand_offs", "first_customer_message_at", "last_inbound_at", "prompt_tokens",
    "completion_tokens", "llm_cost", "whatsapp_cost",
)  # fmt: skip
MESSAGE_COLUMNS = (
    "id", "conversation_id", "position", "role", "author", "type", "content", "status",
    "wamid", "metadata", "created_at", "updated_at", "sent_at", "in_reply_to",
    "status_history", "pricing", "model", "prompt_tokens", "completion_tokens", "llm_cost",
)  # fmt: skip


class Generator:
    """Rows of contacts, conversations and messages, drawn from one seeded random source."""

    def __init__(self, *, conversations: int, customers: int, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.conversations = conversations
        self.now = now
        self.numbers = tuple(f"10{index:013d}" for index in range(1, len(NUMBER_WEIGHTS) + 1))
        self.position = 0
        self.messages = 0
        self.customers = [self._customer(index) for index in range(customers)]

    def _customer(self, index: int) -> tuple[UUID, str, str, str]:
        number = self.rng.choices(self.numbers, NUMBER_WEIGHTS)[0]
        wa_id = f"{self.rng.choice(('34', '44', '49', '351', '55'))}{600000000 + index}"
        return self._uuid(), number, wa_id, f"{self.rng.choice(NAMES)} {index}"

    def _uuid(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def contact_rows(self) -> Iterator[tuple[Any, ...]]:
        since = self.now - timedelta(days=120)
        for contact_id, number, wa_id, name in self.customers:
            yield contact_id, number, wa_id, "", name, since, since

    def key_rows(self) -> Iterator[tuple[Any, ...]]:
        since = self.now - timedelta(days=120)
        for contact_id, number, wa_id, _ in self.customers:
            yield number, f"wa:{wa_id}", contact_id, since

    def number_rows(self) -> Iterator[tuple[Any, ...]]:
        since = self.now - timedelta(days=365)
        for number in self.numbers:
            yield self._uuid(), number, since, since

    def conversations_in_chunks(
        self, size: int
    ) -> Iterator[list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]]:
        """Conversation rows with their messages, oldest first, `size` conversations a time."""
        # Returning customers: some write far more often than others.
        weights = [self.rng.lognormvariate(0, 1) for _ in self.customers]
        chosen = self.rng.choices(self.customers, weights, k=self.conversations)
        starts = sorted(
            self.now - timedelta(seconds=self.rng.uniform(0, 90 * 86400)) for _ in chosen
        )
        chunk: list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]] = []
        for start, customer in zip(starts, chosen, strict=True):
            messages: list[tuple[Any, ...]] = []
            chunk.append((self._conversation(self._uuid(), customer, start, messages), messages))
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _conversation(
        self,
        conversation_id: UUID,
        customer: tuple[UUID, str, str, str],
        start: datetime,
        messages: list[tuple[Any, ...]],
    ) -> tuple[Any, ...]:
        contact_id, number, wa_id, name = customer
        recent = self.now - start < timedelta(hours=12)
        status = "active" if recent else self._status()
        count = self.rng.randint(4, 8)
        at, tokens, cost = start, [0, 0], Decimal(0)
        first_inbound = last_inbound = start
        for index in range(count):
            at += timedelta(seconds=self.rng.uniform(2, 90 if index % 2 else 600))
            if index % 2 == 0:
                messages.append(self._inbound(conversation_id, wa_id, name, at))
                last_inbound = at
                first_inbound = first_inbound if index else at
            else:
                author = "agent" if status == "escalated" and index == count - 1 else "ai"
                row, used = self._reply(conversation_id, author, at, messages[-1][0])
                messages.append(row)
                tokens = [tokens[0] + used[0], tokens[1] + used[1]]
                cost += row[-1]
        closed = at + timedelta(hours=12) if status in ("completed", "abandoned") else None
        changed = closed or (at if status == "escalated" else None)
        return (
            conversation_id, contact_id, number, f"whatsapp_+{wa_id}", "whatsapp", status, count,
            wa_id, "", name, start, closed or at, at, messages[-1][6][:100], "customer",
            "SERVICE", MODEL, status == "escalated", _reason(status), _changed_by(status),
            changed, closed, int(status == "escalated"), first_inbound, last_inbound,
            tokens[0], tokens[1], cost, Decimal(0),
        )  # fmt: skip

    def _status(self) -> str:
        return self.rng.choices(tuple(STATUS_WEIGHTS), tuple(STATUS_WEIGHTS.values()))[0]

    def _text(self, texts: tuple[str, ...]) -> str:
        return self.rng.choice(texts).format(n=self.rng.randint(10000, 99999))

    def _next_position(self) -> int:
        self.position += self.rng.randint(3, 9)  # other events sit between messages
        self.messages += 1
        return self.position

    def _inbound(
        self, conversation_id: UUID, wa_id: str, name: str, at: datetime
    ) -> tuple[Any, ...]:
        message_id, text = str(self._uuid()), self._text(CUSTOMER_TEXTS)
        wamid = f"wamid.HBgL{self.rng.getrandbits(120):030X}"
        sent = at - timedelta(seconds=1)
        raw = {
            "from": wa_id,
            "id": wamid,
            "timestamp": str(int(sent.timestamp())),
            "type": "text",
            "text": {"body": text},
        }
        metadata = {
            "raw": raw,
            "display_phone_number": "15550000000",
            "profile_name": name,
            "received_at": at.isoformat(),
        }
        history = [{"status": "received", "at": at.isoformat()}]
        return (
            message_id, conversation_id, self._next_position(), "user", "customer", "text", text,
            "received", wamid, json.dumps(metadata), at, at, sent, "", json.dumps(history),
            None, "", 0, 0, Decimal(0),
        )  # fmt: skip

    def _reply(
        self, conversation_id: UUID, author: str, at: datetime, answers: str
    ) -> tuple[tuple[Any, ...], tuple[int, int]]:
        message_id, text = str(self._uuid()), self._text(REPLY_TEXTS)
        wamid = f"wamid.HBgL{self.rng.getrandbits(120):030X}"
        pricing = {
            "billable": False,
            "category": "service",
            "pricing_model": "PMP",
            "type": "free_customer_service",
        }
        reported = {k: v for k, v in pricing.items() if v}  # MessageToDict drops defaults
        moments = [at + timedelta(seconds=s) for s in (0, 1, 2, self.rng.uniform(5, 300))]
        statuses = ("queued", "sent", "delivered", "read")
        history = [
            {"status": s, "at": m.isoformat()} for s, m in zip(statuses, moments, strict=True)
        ]
        used = (0, 0)
        if author == "ai":
            used = (self.rng.randint(400, 1800), self.rng.randint(20, 160))
        cost = (used[0] * PROMPT_PER_1K + used[1] * COMPLETION_PER_1K) / 1000
        metadata = {"in_reply_to": answers, "pricing": reported}
        row = (
            message_id, conversation_id, self._next_position(), "assistant", author, "text", text,
            "read", wamid, json.dumps(metadata), at, moments[-1], None, answers,
            json.dumps(history), json.dumps(pricing), MODEL if author == "ai" else "",
            used[0], used[1], cost,
        )  # fmt: skip
        return row, used


REASONS = {"completed": "resolved", "abandoned": "no reply", "escalated": "asked for a person"}


def _reason(status: str) -> str:
    return REASONS.get(status, "")


def _changed_by(status: str) -> str:
    return {"completed": "system", "abandoned": "system", "escalated": "ai"}.get(status, "")


def load_conversations(
    database_url: str, *, conversations: int, customers: int, seed: int = 4
) -> Dataset:
    """Fill the (migrated, empty) read model, then VACUUM ANALYZE it; returns what it holds."""
    generator = Generator(
        conversations=conversations, customers=customers, seed=seed, now=datetime.now(UTC)
    )
    ids: list[UUID] = []
    by_number: dict[str, list[UUID]] = {number: [] for number in generator.numbers}
    phones: set[str] = set()
    with psycopg.connect(database_url) as connection:
        _copy(connection, "business_numbers", NUMBER_COLUMNS, generator.number_rows())
        _copy(connection, "contacts", CONTACT_COLUMNS, generator.contact_rows())
        _copy(connection, "contact_keys", KEY_COLUMNS, generator.key_rows())
        for chunk in generator.conversations_in_chunks(5000):
            rows = [conversation for conversation, _ in chunk]
            _copy(connection, "conversations", CONVERSATION_COLUMNS, rows)
            _copy(connection, "messages", MESSAGE_COLUMNS, (m for _, ms in chunk for m in ms))
            for row in rows:
                ids.append(row[0])
                by_number[row[2]].append(row[0])
                phones.add(row[7])
        connection.commit()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return Dataset(
        numbers=generator.numbers,
        conversation_ids=tuple(ids),
        ids_by_number={number: tuple(found) for number, found in by_number.items()},
        customer_phones=tuple(sorted(phones)),
        conversations=len(ids),
        messages=generator.messages,
        contacts=len(generator.customers),
    )


def _copy(
    connection: psycopg.Connection[Any],
    table: str,
    columns: tuple[str, ...],
    rows: Iterable[tuple[Any, ...]],
) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier("analytics", table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
