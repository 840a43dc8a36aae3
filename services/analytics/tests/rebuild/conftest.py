"""A scripted session `EventLog` served over real gRPC, random session histories that use
every event the projection reads, and snapshots of read-model tables."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import grpc
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from threadline.analytics.adapters.outbound.read_models.database import open_pool
from threadline.analytics.adapters.outbound.read_models.schema import migrate
from threadline.analytics.adapters.outbound.session_event_log import EventLogReader
from threadline.analytics.bootstrap import projection_consumer
from threadline.contracts.events.v1 import ai_pb2, common_pb2
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.messaging.consumer import Delivery
from threadline.messaging.relay import POSITION
from threadline.testing import unique_id

if TYPE_CHECKING:
    from conftest import EventLog

TABLES = (
    "business_numbers",
    "templates",
    "contacts",
    "contact_keys",
    "conversations",
    "messages",
    "response_facts",
    "responses",
    "attachments",
    "tool_calls",
    "projection_positions",
)
Snapshot = dict[str, list[tuple[Any, ...]]]


@dataclass
class ScriptedEventLog(pb_grpc.EventLogServicer):
    """The session's EventLog over a list of events the test appends to, as the session's
    does: `ReadAll` and `ReadAllPages` from a position, `ReadStream` by aggregate."""

    events: list[SessionEvent] = field(default_factory=list)

    def append(self, *events: SessionEvent) -> None:
        self.events.extend(events)

    def _from(self, request: pb.ReadAllRequest | pb.ReadAllPagesRequest) -> Iterator[SessionEvent]:
        sent, index = 0, 0
        while index < len(self.events):  # events appended while reading are read too
            event = self.events[index]
            index += 1
            if event.position >= max(request.from_position, 1):
                yield event
                sent += 1
                if request.limit and sent >= request.limit:
                    return

    async def ReadAll(
        self, request: pb.ReadAllRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[SessionEvent]:
        for event in self._from(request):
            yield event

    async def ReadAllPages(
        self, request: pb.ReadAllPagesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.SessionEventPage]:
        page: list[SessionEvent] = []
        for event in self._from(request):
            page.append(event)
            if len(page) == (request.page_size or 1000):
                yield pb.SessionEventPage(events=page)
                page = []
        if page:
            yield pb.SessionEventPage(events=page)

    async def ReadStream(
        self, request: pb.ReadStreamRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[SessionEvent]:
        stream = [e for e in self.events if e.aggregate_id == request.stream_id]
        if not stream:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no stream {request.stream_id}")
        for event in stream:
            yield event


@pytest.fixture
async def event_log() -> AsyncIterator[tuple[ScriptedEventLog, str]]:
    """The scripted log, and the address it is served on."""
    servicer = ScriptedEventLog()
    server = grpc.aio.server()
    pb_grpc.add_EventLogServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, f"127.0.0.1:{port}"
    await server.stop(None)


@pytest.fixture
def reader(event_log: tuple[ScriptedEventLog, str]) -> Iterator[EventLogReader]:
    with grpc.insecure_channel(event_log[1]) as channel:
        yield EventLogReader(channel, "any-token")


async def snapshot(database_url: str, schema: str = "analytics") -> Snapshot:
    """Every read-model table of `schema`, row by row, in a stable order."""
    found: Snapshot = {}
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        for table in TABLES:
            query = sql.SQL("SELECT * FROM {}.{} t ORDER BY t::text").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            found[table] = await (await connection.execute(query)).fetchall()
    return found


@pytest.fixture
def tables() -> Callable[[str, str], Awaitable[Snapshot]]:
    return snapshot


@pytest.fixture
def reference_url(postgres_server_url: str) -> Iterator[str]:
    """A second fresh database: the live projection of the same events, to compare with."""
    name = unique_id("ref_", length=12)
    with psycopg.connect(postgres_server_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield conninfo_with_database(postgres_server_url, name)
    with psycopg.connect(postgres_server_url, autocommit=True) as connection:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        connection.execute(drop.format(sql.Identifier(name)))


def conninfo_with_database(url: str, name: str) -> str:
    return make_conninfo(url, dbname=name)


async def project_live(database_url: str, events: Sequence[SessionEvent]) -> None:
    """Project `events` as the live consumer does (batches of 50, the service's code)."""
    pool = await open_pool(database_url)
    try:
        async with pool.connection() as connection:
            await migrate(connection)
        projector = projection_consumer(pool)
        for start in range(0, len(events), 50):
            await projector.handle(
                [
                    Delivery("s", e.SerializeToString(), {POSITION: str(e.position)}, i, 1)
                    for i, e in enumerate(events[start : start + 50], start=1)
                ]
            )
    finally:
        await pool.close()


@pytest.fixture
def reference() -> Callable[[str, Sequence[SessionEvent]], Awaitable[None]]:
    return project_live


# Random histories ---------------------------------------------------------------------

STATUSES = ("sent", "delivered", "read")
BILLABLE = common_pb2.Pricing(billable=True, category="utility", pricing_model="PMP", type="r")
FREE = common_pb2.Pricing(billable=False, category="service", pricing_model="PMP", type="free")


@dataclass
class Talk:
    id: UUID
    contact: UUID
    inbound: list[str] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)  # message → statuses reported


def history(
    log: EventLog, *, seed: int, conversations: int = 10, steps: int = 300
) -> list[SessionEvent]:
    """A business number with templates, then `conversations` customers doing `steps` random
    things: messages both ways, dispatches, statuses (some billable, some late), failures,
    edits, revokes, reactions, hand-offs, closings, flows, linked ids and new names."""
    rng = random.Random(seed)
    number = uuid4()
    events = [
        log.number(number),
        log.template(number, "order_update"),
        log.autopilot(number, enabled=False),
        log.auto_resolution(number, hours=6),
    ]
    talks = []
    for i in range(conversations):
        talk = Talk(uuid4(), uuid4())
        wa_id = f"1555{seed % 1000:03d}{i:04d}"
        events += [
            log.contact(talk.contact, wa_id=wa_id),
            log.key_claimed(talk.contact, f"wa:{wa_id}"),
            log.conversation(talk.id, talk.contact, wa_id=wa_id),
        ]
        talks.append(talk)
    for step in range(steps):
        talk = rng.choice(talks)
        log.wait(timedelta(seconds=rng.randrange(0, 90)))
        events.extend(_step(log, rng, talk, f"{seed}-{step}"))
    events.append(log.template(number, "order_update", body="Order {{1}} is on its way"))
    return events


def _step(log: EventLog, rng: random.Random, talk: Talk, n: str) -> list[SessionEvent]:
    roll = rng.random()
    if roll < 0.3 or not talk.inbound:
        talk.inbound.append(f"in-{n}")
        kind = rng.choice(["text", "text", "image", "system"])
        return [log.inbound(talk.id, f"in-{n}", text=f"question {n}", kind=kind)]
    if roll < 0.38:
        return [_attachment(log, rng, talk)]
    if roll < 0.42:
        return [_transcript(log, rng, talk)]
    if roll < 0.5:
        talk.queued.append(f"out-{n}")
        author = rng.choice(["ai", "ai", "agent", "flow"])
        model = "gpt-4o-mini" if author == "ai" else ""
        # An AI reply may follow the assistant's tool calls and cite passages (issue 12),
        # drawn from the step's own generator so that the other steps stay as they were.
        own = random.Random(n)
        return [
            *(_tool_calls(log, own, talk, n) if author == "ai" else []),
            log.queued(
                talk.id,
                f"out-{n}",
                author=author,
                model=model,
                prompt_tokens=rng.randrange(500),
                completion_tokens=rng.randrange(90),
                **(_usage(rng) if author == "ai" else {}),
                citations=_citations(own) if author == "ai" else (),
            ),
        ]
    if roll < 0.53:
        return [log.discarded(talk.id, f"gen-{n}", model="openai:gpt-4.1-mini", **_usage(rng))]
    if roll < 0.7 and talk.queued:
        return _delivery(log, rng, talk)
    if roll < 0.8:
        target = rng.choice([*talk.inbound, *talk.queued, ""])
        kind = rng.choice(["edit", "revoke", "reaction"])
        return [log.changed(talk.id, f"chg-{n}", kind=kind, target=target, text=f"new {n}")]
    if roll < 0.87:
        status = rng.choice(["escalated", "active", "completed", "abandoned"])
        return [log.status_changed(talk.id, status, ai_paused=status == "escalated")]
    if roll < 0.92:
        return _flow_step(log, random.Random(f"flow-{n}"), talk, n, completed=rng.random() < 0.3)
    if roll < 0.96:
        return [log.identity_linked(talk.contact, user_id=f"US.{n}")]
    return [log.renamed(talk.contact, f"Name {n}")]


def _flow_step(
    log: EventLog, rng: random.Random, talk: Talk, n: str, *, completed: bool
) -> list[SessionEvent]:
    """A step (issue 12: with the data collected so far, an expiry or none, a status or none
    as before statuses), and on its contact the fields that changed, some with a non-text
    `email` or `name`, some with none (`{}`)."""
    data = {
        key: rng.choice(values)
        for key, values in (
            ("name", ["Ana", "Bo", 7]),
            ("email", ["ana@example.com", "bo@example.pt", None]),
            ("date", ["2026-06-02", "2026-06-03"]),
        )
        if rng.random() < 0.6
    }
    expires_at = log.now + timedelta(minutes=30) if rng.random() < 0.7 else None
    status = rng.choice(["", "running", "completed" if completed else "expired", "handed_off"])
    # What the assistant's collect tool saved (issue 12 item 2), merged into the same
    # session_data: before the step or after it (made in that order, as positions follow), a
    # key the step has or one of its own.
    collected = {rng.choice(["email", "phone"]): rng.choice(["c@example.com", "+5511912345678"])}
    collecting, first = rng.random() < 0.3, rng.random() < 0.5
    before = [log.conversation_data_collected(talk.id, collected)] if collecting and first else []
    step = log.flow_step(
        talk.id,
        "checkout",
        f"step-{n}",
        completed=completed,
        data=data,
        expires_at=expires_at,
        status=status,
        flow_version=rng.randrange(3),
    )
    late = collecting and not first
    after = [log.conversation_data_collected(talk.id, collected)] if late else []
    if not data or rng.random() < 0.3:
        return [*before, step, *after]
    return [*before, step, *after, log.data_collected(talk.contact, talk.id, data)]


def _attachment(log: EventLog, rng: random.Random, talk: Talk) -> SessionEvent:
    """A customer message's media kept or not; some twice (failed, then kept after all), some
    naming a message the read models never saw."""
    message = rng.choice([*talk.inbound, f"unseen-{rng.randrange(1000)}"])
    if rng.random() < 0.3:
        refused = rng.random() < 0.3
        reason = "larger than 16 MB" if refused else "download failed: HTTP 404"
        return log.attachment_failed(talk.id, message, reason=reason, refused=refused)
    kind = rng.choice(["image", "audio", "document"])
    return log.attachment_stored(
        talk.id,
        message,
        media_type=kind,
        content_type={"image": "image/jpeg", "audio": "audio/ogg", "document": "application/pdf"}[
            kind
        ],
        size=rng.randrange(1, 5_000_000),
        file_name="invoice.pdf" if kind == "document" else "",
        caption=rng.choice(["", f"look {message}"]),
        voice=kind == "audio",
    )


def _transcript(log: EventLog, rng: random.Random, talk: Talk) -> SessionEvent:
    """A customer message's voice note heard or not; some before their attachment (creating
    it pending), some twice, some naming a message the read models never saw."""
    message = rng.choice([*talk.inbound, f"unseen-{rng.randrange(1000)}"])
    if rng.random() < 0.3:
        return log.transcript_missing(talk.id, message, reason="transcription failed: timeout")
    return log.transcript_recorded(
        talk.id,
        message,
        text=f"voice {message}",
        language=rng.choice(["en", "pt", ""]),
        duration_seconds=rng.choice([0.0, 1.25, 7.5]),
    )


def _citations(rng: random.Random) -> list[ai_pb2.Citation]:
    """The passages an AI reply used: none, or one to three of a small salon's."""
    return [
        ai_pb2.Citation(
            passage_id=f"p-{rng.randrange(50)}",
            document=rng.choice(["faq.md", "prices.pdf"]),
            knowledge_base="salon",
            score=rng.choice([0.5, 0.031, 1.0]),
            snippet=f"passage {rng.randrange(1000)}",
        )
        for _ in range(rng.choice([0, 0, 1, 3]))
    ]


def _tool_calls(log: EventLog, rng: random.Random, talk: Talk, n: str) -> list[SessionEvent]:
    """The assistant's calls of a business's tools before a reply: none, one or two; some
    call ids recorded again (the first stays), some arguments not an object."""
    return [
        _tool_call(log, rng, talk, rng.choice([f"call-{n}-{i}", f"call-{talk.id}-again"]), n)
        for i in range(rng.choice([0, 0, 1, 2]))
    ]


def _tool_call(log: EventLog, rng: random.Random, talk: Talk, call_id: str, n: str) -> SessionEvent:
    return log.tool_call(
        talk.id,
        call_id,
        tool=rng.choice(["check_availability", "book"]),
        arguments_json=rng.choice(['{"day":"2026-06-02"}', '{"n":[1,2]}', "[1]", "{}"]),
        status=rng.choice(["ok", "http_error", "timeout"]),
        http_status=rng.choice([200, 409, 0]),
        generation_id=f"gen-{n}",
        latency_ms=rng.randrange(2000),
        mutating=rng.random() < 0.5,
        replayed=rng.random() < 0.2,
    )


def _usage(rng: random.Random) -> dict[str, Any]:
    """What an AI reply of issue 10 item 8 records: one of two assistants (or none, as before
    it), a price or none ("" falls back to the rates)."""
    assistant = rng.choice(["", "salon", "shop"])
    return {
        "cached_tokens": rng.randrange(100),
        "latency_ms": rng.randrange(3000),
        "assistant": assistant,
        "assistant_version": rng.randrange(1, 4) if assistant else 0,
        "cost": rng.choice(["", "0.000123", "0.0049200", "0"]),
    }


def _delivery(log: EventLog, rng: random.Random, talk: Talk) -> list[SessionEvent]:
    message = rng.choice(talk.queued)
    reported = talk.sent.get(message)
    if reported is None:
        talk.sent[message] = 0
        if rng.random() < 0.1:
            return [log.failed(talk.id, message, code=131047)]
        return [log.dispatched(talk.id, message, f"wamid.out.{message}")]
    if reported >= len(STATUSES):
        return [log.status(talk.id, message, "delivered", pricing=BILLABLE, late=True)]
    talk.sent[message] = reported + 1
    pricing = rng.choice([BILLABLE, FREE, None])
    return [log.status(talk.id, message, STATUSES[reported], pricing=pricing)]


History = Callable[..., list[SessionEvent]]


@pytest.fixture
def make_history() -> History:
    return history
