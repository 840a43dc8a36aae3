"""Issue 8, reproduction 1: one stored event the relay cannot publish stalled it for everyone.

Over real NATS JetStream and PostgreSQL: an event larger than NATS's max payload is stored
through the session's own code; the relay dead-letters a bounded record of it (visible on
DEAD_LETTERS, in the log and on /metrics), moves past it, and the next events publish, each
once. Also: what the session's consumers do with each kind of failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import string
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import aiohttp
import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg

from threadline.contracts.events.v1 import common_pb2, ingest_pb2
from threadline.messaging.dead_letters import ORIGINAL_SHA256, ORIGINAL_SIZE, REASON, TRUNCATED
from threadline.messaging.relay import EVENT_ID, POSITION
from threadline.messaging.topology import (
    DEAD_LETTERS,
    INBOUND_MESSAGE_RECEIVED,
    SESSION_EVENTS,
    Topology,
)
from threadline.servicekit.auth import hash_token
from threadline.session.adapters.outbound.outbox import StoredEvents
from threadline.session.application import fact_handlers
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import InboundMessage
from threadline.session.application.outcomes import NotYet, Rejected
from threadline.session.bootstrap import RunningSession, bootstrap
from threadline.session.config import SessionConfig
from threadline.testing import eventually
from threadline.testing.clock import FakeClock

TOKEN = "relay-poison-token"
ConfigFactory = Callable[..., SessionConfig]
MIB = 1024 * 1024


@pytest.fixture
async def service(
    session_config: ConfigFactory, service_clock: FakeClock
) -> AsyncIterator[RunningSession]:
    config = session_config(api_tokens=f"{hash_token(TOKEN)}:read,write,admin:*")
    async with AsyncExitStack() as stack:
        yield await bootstrap(config, stack, clock=service_clock)


async def stream_messages(js: JetStreamContext, stream: str) -> list[RawStreamMsg]:
    info = await js.stream_info(stream)
    return [await js.get_msg(stream, seq) for seq in range(1, info.state.last_seq + 1)]


def huge_metadata() -> dict[str, Any]:
    """Metadata of a message whose stored event exceeds NATS's 1 MiB max payload (random,
    as a hostile sender's would be)."""
    blob = "".join(random.choices(string.ascii_letters, k=int(1.2 * MIB)))
    return {"raw": {"location": {"latitude": blob}}}


def inbound(wa_id: str, *, metadata: dict[str, Any] | None = None) -> InboundMessage:
    return InboundMessage(
        wamid=f"wamid.{uuid4().hex}",
        phone_number_id="pn-relay",
        wa_id=wa_id,
        user_id="",
        profile_name="Ana",
        content={"type": "text", "text": "hello", "payload_json": ""},
        sent_at=datetime.now(UTC),
        metadata=metadata or {},
    )


def inbound_fact(wa_id: str) -> ingest_pb2.InboundMessageReceived:
    fact = ingest_pb2.InboundMessageReceived(
        wamid=f"wamid.{uuid4().hex}",
        phone_number_id="pn-relay",
        customer=common_pb2.CustomerIdentity(wa_id=wa_id, profile_name="Bo"),
        content=common_pb2.MessageContent(type="text", text="anyone there?"),
    )
    fact.sent_at.FromDatetime(datetime.now(UTC))
    fact.received_at.FromDatetime(datetime.now(UTC))
    return fact


async def metrics(port: int) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        return await response.text()


async def test_an_event_too_large_to_publish_is_dead_lettered_and_the_relay_goes_on(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    # Through the session's own code, as a fact that made it past ingest would be stored.
    # (Ingest bounds what a webhook can carry; the relay must be safe whatever is stored.)
    outcomes = await asyncio.to_thread(
        service.app.record_facts, [inbound("15557100001", metadata=huge_metadata())]
    )
    assert type(outcomes[0]).__name__ == "Applied"
    service.relay.wake()
    oversized = service.relay.position  # not yet moved: found below once relayed

    # Another customer writes afterwards, through NATS as ingest publishes facts.
    fact = inbound_fact("15557100002")
    await js.publish(
        topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id="pn-relay"),
        fact.SerializeToString(),
        headers={"Nats-Msg-Id": fact.wamid},
    )

    async def everyone_else_relayed() -> bool:
        found = await stream_messages(js, topology.stream(SESSION_EVENTS))
        return sum(m.subject.endswith("CustomerMessageReceived") for m in found) == 1 and any(
            m.subject.endswith("Conversation.Started") for m in found[6:]
        )

    await eventually(everyone_else_relayed, timeout=20)
    published = await stream_messages(js, topology.stream(SESSION_EVENTS))
    dead = await stream_messages(js, topology.stream(DEAD_LETTERS))

    # The oversized event: dead-lettered as a bounded record naming it exactly.
    assert len(dead) == 1
    headers = {k: str(v) for k, v in (dead[0].headers or {}).items()}
    stored = StoredEvents(service.app, topology).read_after(int(headers[POSITION]) - 1, 1)[0]
    assert dead[0].subject == topology.subject("dlq.session.unpublishable")
    assert headers[EVENT_ID] == stored.msg_id
    assert stored.subject.endswith("Conversation.CustomerMessageReceived")
    assert int(headers[ORIGINAL_SIZE]) == len(stored.payload) > MIB
    assert headers[ORIGINAL_SHA256] == hashlib.sha256(stored.payload).hexdigest()
    assert headers[TRUNCATED] == "true"
    assert dead[0].data == stored.payload[: len(dead[0].data or b"")]
    assert "exceeds the largest message the stream takes" in headers[REASON]
    assert int(headers[POSITION]) > oversized
    # Everything else: published once each, in order, the later customer's message included.
    positions = [int(str((m.headers or {})[POSITION])) for m in published]
    assert positions == sorted(set(positions))
    assert int(headers[POSITION]) not in positions
    assert published[-1].subject.endswith("Conversation.CustomerMessageReceived")
    assert service.relay.position == positions[-1]
    # Visible to operators: the session's /metrics.
    stream = topology.stream(SESSION_EVENTS)
    text = await metrics(service.ops_port)
    assert f'threadline_relay_events_total{{outcome="dead_lettered",stream="{stream}"}} 1.0' in text
    assert 'threadline_dead_letters_total{service="session",slug="unpublishable"}' in text


def test_a_stored_event_that_cannot_be_read_becomes_a_record_with_its_problem() -> None:
    app = Conversations({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.record_facts([inbound("15557100003")])
    readable = list(StoredEvents(app, Topology()).read_after(0, 100))
    app.recorder.insert_events([StoredEvent(uuid4(), 1, "threadline.gone:Vanished", b'{"a": 1}')])

    records = StoredEvents(app, Topology()).read_after(0, 100)

    assert [r.problem for r in records[: len(readable)]] == [""] * len(readable)
    unreadable = records[-1]
    assert unreadable.problem.startswith("cannot read the stored event")
    assert unreadable.payload == b'{"a": 1}'
    assert unreadable.position == readable[-1].position + 1


@dataclass(frozen=True)
class Exploding:
    """A fact whose handler raises `error` (a test-only fact type)."""

    error: Exception


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (psycopg.errors.ProgramLimitExceeded("index row size 3016 exceeds"), Rejected),
        (ValueError("cannot handle"), Rejected),
        (psycopg.errors.DeadlockDetected("deadlock detected"), NotYet),
        (TimeoutError("statement timeout"), NotYet),
    ],
    ids=lambda value: type(value).__name__,
)
def test_a_fact_that_fails_alone_is_rejected_or_retried_by_the_kind_of_failure(
    monkeypatch: pytest.MonkeyPatch, error: Exception, expected: type
) -> None:
    monkeypatch.setitem(fact_handlers.HANDLERS, Exploding, _raise)
    app = Conversations({"PERSISTENCE_MODULE": "eventsourcing.popo"})

    outcomes = app.record_facts([inbound("15557100004"), Exploding(error)])  # type: ignore[list-item]

    assert type(outcomes[0]).__name__ == "Applied"  # its neighbour is recorded
    assert isinstance(outcomes[1], expected)


def test_an_unavailable_store_is_raised_for_the_consumer_to_wait_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(fact_handlers.HANDLERS, Exploding, _raise)
    app = Conversations({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    lost = psycopg.OperationalError("server closed the connection unexpectedly")

    with pytest.raises(psycopg.OperationalError):
        app.record_facts([Exploding(lost)])  # type: ignore[list-item]


def _raise(fact: Exploding, *_: object) -> Any:
    raise fact.error
