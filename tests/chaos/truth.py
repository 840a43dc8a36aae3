"""What each part of the platform holds at the end, read through its own interface:
the session's event store through `EventLog.ReadAllPages`, the read models with SQL (a stable
interface, docs/read-models.md), the sandbox's record of every send request, and JetStream."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import grpc
import nats
import nats.errors
import psycopg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc
from threadline.messaging.relay import POSITION
from threadline.messaging.topology import DEAD_LETTERS, SESSION_EVENTS
from threadline.sandbox.outbox import AcceptedMessage, Outbox


class RecordingOutbox(Outbox):
    """The sandbox's outbox, also keeping every accepted send request in a list of its own
    (whatever bound the outbox itself keeps)."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[AcceptedMessage] = []

    def accept(
        self,
        phone_number_id: str,
        to: str,
        request: Mapping[str, object],
        *,
        trace_headers: Mapping[str, str] | None = None,
    ) -> AcceptedMessage:
        message = super().accept(phone_number_id, to, request, trace_headers=trace_headers)
        self.accepted.append(message)
        return message


@dataclass
class EventLogFacts:
    """The session's event store, folded as it is read (incrementally, from a position)."""

    last_position: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    received: list[events_pb.CustomerMessageReceived] = field(default_factory=list)
    queued: list[events_pb.OutboundMessageQueued] = field(default_factory=list)
    dispatched: list[events_pb.OutboundMessageDispatched] = field(default_factory=list)
    failed: list[events_pb.OutboundMessageDispatchFailed] = field(default_factory=list)
    status_of: dict[str, str] = field(default_factory=dict)  # outbound message id → status
    conversations: int = 0
    contacts: int = 0
    positions: list[int] = field(default_factory=list)
    name_of: dict[str, str] = field(default_factory=dict)  # contact id → profile name

    def fold(self, event: events_pb.SessionEvent) -> None:
        self.last_position = max(self.last_position, event.position)
        self.by_type[event.event_type] += 1
        self.positions.append(event.position)
        body = event.WhichOneof("body")
        if body == "customer_message_received":
            self.received.append(event.customer_message_received)
        elif body == "outbound_message_queued":
            self.queued.append(event.outbound_message_queued)
        elif body == "outbound_message_dispatched":
            self.dispatched.append(event.outbound_message_dispatched)
        elif body == "outbound_message_dispatch_failed":
            self.failed.append(event.outbound_message_dispatch_failed)
        elif body == "message_status_changed":
            changed = event.message_status_changed
            self.status_of[changed.message_id] = changed.status
        elif body == "conversation_started":
            self.conversations += 1
        elif body == "contact_registered":
            self.contacts += 1
            self.name_of[event.aggregate_id] = event.contact_registered.customer.profile_name
        elif body == "contact_profile_name_changed":
            self.name_of[event.aggregate_id] = event.contact_profile_name_changed.profile_name


class EventLogReader:
    """Reads the log from where it stopped last time: cheap enough to poll."""

    def __init__(self, address: str, api_token: str) -> None:
        self._address = address
        self._metadata = (("authorization", f"Bearer {api_token}"),)
        self.facts = EventLogFacts()

    async def catch_up(self) -> int:
        """Read every event after the last one read; the log's last position."""
        async with grpc.aio.insecure_channel(self._address) as channel:
            stub = session_pb2_grpc.EventLogStub(channel)
            request = pb.ReadAllPagesRequest(
                from_position=self.facts.last_position + 1, page_size=2000
            )
            call = stub.ReadAllPages(request, metadata=self._metadata, timeout=120)
            async for page in call:
                for event in page.events:
                    self.facts.fold(event)
        return self.facts.last_position


@dataclass
class ReadModelFacts:
    customer_rows: list[tuple[str, str]]  # (id, wamid)
    reply_rows: list[tuple[str, str, str, str, str]]  # (id, wamid, in_reply_to, status, author)
    conversations: int
    message_count_sum: int
    contacts: int
    contact_names: dict[str, str]  # id → name
    response_facts: int
    answered: int
    position: int


async def projection_position(database_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as db:
        cursor = await db.execute(
            "SELECT position FROM analytics.projection_positions WHERE name = 'conversations'"
        )
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def read_models(database_url: str) -> ReadModelFacts:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as db:

        async def rows(query: str) -> list[tuple[object, ...]]:
            cursor = await db.execute(query)
            return list(await cursor.fetchall())

        customer = await rows("SELECT id, wamid FROM analytics.messages WHERE author = 'customer'")
        replies = await rows(
            "SELECT id, wamid, coalesce(in_reply_to, ''), status, author "
            "FROM analytics.messages WHERE author <> 'customer'"
        )
        ((conversations, message_sum),) = await rows(
            "SELECT count(*), coalesce(sum(message_count), 0) FROM analytics.conversations"
        )
        names = await rows("SELECT id, name FROM analytics.contacts")
        ((facts, answered),) = await rows(
            "SELECT count(*), count(answered_at) FROM analytics.response_facts"
        )
    return ReadModelFacts(
        customer_rows=[(str(r[0]), str(r[1])) for r in customer],
        reply_rows=[(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in replies],
        conversations=int(str(conversations)),
        message_count_sum=int(str(message_sum)),
        contacts=len(names),
        contact_names={str(r[0]): str(r[1]) for r in names},
        response_facts=int(str(facts)),
        answered=int(str(answered)),
        position=await projection_position(database_url),
    )


@dataclass
class JetStreamFacts:
    busy: int  # messages pending or awaiting ack over every durable consumer
    busy_consumers: list[str]
    dead_letters: int
    dead_letter_subjects: dict[str, int]
    # The Threadline-Position of every SESSION_EVENTS message, in stream order (read at the end).
    relayed_positions: list[int] = field(default_factory=list)


async def jetstream(nats_url: str, *, relayed: bool = False) -> JetStreamFacts:
    client = await nats.connect(
        nats_url,
        name="chaos-observer",
        connect_timeout=2,
        max_reconnect_attempts=1,
        allow_reconnect=False,
    )
    try:
        js = client.jetstream()
        busy, busy_consumers = 0, []
        for stream in await js.streams_info():
            name = stream.config.name or ""
            for consumer in await js.consumers_info(name):
                waiting = (consumer.num_pending or 0) + (consumer.num_ack_pending or 0)
                if waiting:
                    busy += waiting
                    busy_consumers.append(f"{consumer.name}:{waiting}")
        info = await js.stream_info(DEAD_LETTERS, subjects_filter=">")
        subjects = dict(info.state.subjects or {})
        facts = JetStreamFacts(busy, busy_consumers, info.state.messages, subjects)
        if relayed:
            facts.relayed_positions = await _relayed_positions(js)
        return facts
    finally:
        await client.close()


async def _relayed_positions(js: JetStreamContext) -> list[int]:
    """Every SESSION_EVENTS message's position header in stream order (headers only)."""
    total = (await js.stream_info(SESSION_EVENTS)).state.messages
    subscription = await js.pull_subscribe(
        ">",
        stream=SESSION_EVENTS,
        config=ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            headers_only=True,
            inactive_threshold=30.0,
        ),
    )
    positions: list[int] = []
    try:
        for _ in range(total // 500 + 20):  # bounded: a few empty fetches at most
            if len(positions) >= total:
                break
            with contextlib.suppress(TimeoutError, nats.errors.TimeoutError):
                for message in await subscription.fetch(1000, timeout=2):
                    value = (message.headers or {}).get(POSITION, "")
                    positions.append(int(value) if value.isdigit() else -1)
    finally:
        await subscription.unsubscribe()
    return positions
