"""`threadline replay` and `threadline events` against the session's real EventLog service,
over an event store recorded by the session's own application, on real PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import nats
import psycopg
import pytest

from threadline.analytics.adapters.outbound.read_models.rebuild.database import REPLAY_LOCK
from threadline.cli.endpoints import Endpoints
from threadline.cli.events import show_events, tail_events
from threadline.cli.main import main
from threadline.cli.replay import run_replay
from threadline.contracts.events.v1 import session_pb2 as ev
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.messaging.bus import JetStreamBus
from threadline.messaging.relay import POSITION
from threadline.messaging.topology import Topology, ensure_streams
from threadline.servicekit.auth import TokenRegistry, hash_token
from threadline.servicekit.grpc_kit import Registration, start_grpc_server
from threadline.session.adapters.inbound.grpc_api import ERRORS, EventLogServicer
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import DraftedReply, InboundMessage
from threadline.session.config import SessionConfig
from threadline.session.domain.contact import Contact
from threadline.session.domain.identity import contact_id, inbound_message_id

TOKEN = "operator-token"
NUMBER = "109000000000077"


@dataclass
class Platform:
    endpoints: Endpoints
    conversations: list[UUID]


def record_conversations(app: Conversations, customers: int) -> list[UUID]:
    """Each customer writes twice and the assistant answers once."""
    now = datetime.now(UTC)
    facts = [
        InboundMessage(
            wamid=f"wamid.cli.{c}.{n}",
            phone_number_id=NUMBER,
            wa_id=f"1777000{c:04d}",
            user_id="",
            profile_name=f"Customer {c}",
            content={"type": "text", "text": f"hello {n}", "payload_json": ""},
            sent_at=now,
        )
        for n in range(2)
        for c in range(customers)
    ]
    app.record_facts(facts)
    talks = []
    for c in range(customers):
        contact = app.repository.get(contact_id(NUMBER, f"1777000{c:04d}", ""))
        assert isinstance(contact, Contact) and contact.open_conversation_id is not None
        talks.append(contact.open_conversation_id)
    app.record_facts(
        [
            DraftedReply(
                draft_id=f"cli-draft-{c}",
                conversation_id=talk,
                in_reply_to_message_id=str(inbound_message_id(f"wamid.cli.{c}.1")),
                content={"type": "text", "text": "We deliver on Saturdays."},
                model="gpt-4o-mini",
                prompt_tokens=300,
                completion_tokens=20,
            )
            for c, talk in enumerate(talks)
        ]
    )
    return talks


@pytest.fixture
async def platform(
    database_url: str, nats_server_url: str, nats_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Platform]:
    config = SessionConfig(
        nats_url=nats_server_url, nats_namespace="", database_url=database_url, api_tokens=""
    )
    app = Conversations(config.event_store_env())
    talks = await asyncio.to_thread(record_conversations, app, 5)
    server, port = await start_grpc_server(
        host="127.0.0.1",
        port=0,
        registrations=[
            Registration(
                pb_grpc.add_EventLogServicer_to_server,
                EventLogServicer(app),
                "threadline.session.v1.EventLog",
            )
        ],
        tokens=TokenRegistry.parse(f"{hash_token(TOKEN)}:read:*"),
        errors=ERRORS,
    )
    env = {
        "THREADLINE_DATABASE_URL": database_url,
        "THREADLINE_SESSION_GRPC_ADDRESS": f"127.0.0.1:{port}",
        "THREADLINE_API_TOKEN": TOKEN,
        "THREADLINE_NATS_URL": nats_server_url,
        "THREADLINE_NATS_NAMESPACE": nats_namespace,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield Platform(Endpoints.resolve(env), talks)
    await server.stop(None)
    app.close()


def count(database_url: str, query: str) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(query).fetchone()
    return int(row[0]) if row else 0


async def test_replay_builds_the_read_models_from_the_session_event_log(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(main, ["replay", "--batch", "7"])

    url = platform.endpoints.database_url
    assert code == 0
    assert "rebuilt the read models" in capsys.readouterr().out
    assert count(url, "SELECT count(*) FROM analytics.conversations") == 5
    assert count(url, "SELECT count(*) FROM analytics.messages") == 15
    assert count(url, "SELECT count(*) FROM analytics.responses") == 5


async def test_replay_of_one_conversation_restores_its_rows(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    await asyncio.to_thread(main, ["replay"])
    url, talk = platform.endpoints.database_url, platform.conversations[0]
    with psycopg.connect(url) as connection:
        connection.execute("DELETE FROM analytics.messages WHERE conversation_id = %s", (talk,))

    code = await asyncio.to_thread(main, ["replay", "--conversation", str(talk)])

    assert code == 0
    assert f"rebuilt conversation {talk}: " in capsys.readouterr().out
    assert count(url, "SELECT count(*) FROM analytics.messages") == 15


async def test_events_show_prints_a_conversations_stream_one_line_per_event(
    platform: Platform,
) -> None:
    out = io.StringIO()

    code = await asyncio.to_thread(
        show_events, platform.endpoints.session, str(platform.conversations[0]), out=out
    )

    lines = out.getvalue().splitlines()
    assert code == 0
    assert "Conversation.Started" in lines[0]
    assert sum("Conversation.CustomerMessageReceived" in line for line in lines) == 2
    assert "Conversation.OutboundMessageQueued" in lines[-1] and "We deliver" in lines[-1]


async def test_events_show_names_an_unknown_conversation(platform: Platform) -> None:
    err = io.StringIO()

    code = await asyncio.to_thread(
        show_events, platform.endpoints.session, "00000000-0000-0000-0000-000000000000", err=err
    )

    assert code == 1 and "no stream" in err.getvalue()


async def test_events_tail_prints_published_events_with_position_and_subject(
    platform: Platform, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    client = await nats.connect(platform.endpoints.nats_url)
    await ensure_streams(client.jetstream(), topology)
    bus = JetStreamBus(client.jetstream())
    for position in (41, 42, 43):
        event = ev.SessionEvent(event_id=f"e-{position}", aggregate_id="c-1", aggregate_type="x")
        event.customer_message_received.message_id = f"m-{position}"
        subject = topology.subject("session.events.Conversation.CustomerMessageReceived")
        await bus.publish(
            subject,
            event.SerializeToString(),
            msg_id=event.event_id,
            headers={POSITION: str(position)},
        )
    await client.drain()
    out = io.StringIO()

    code = await tail_events(platform.endpoints.nats, out=out, last=2, limit=2)

    lines = out.getvalue().splitlines()
    assert code == 0
    assert [line.split()[0] for line in lines] == ["42", "43"]
    assert "session.events.Conversation.CustomerMessageReceived" in lines[0]
    assert 'message_id: "m-42"' in lines[0]


async def test_replay_refuses_to_run_beside_another_replay(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(platform.endpoints.database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (REPLAY_LOCK,))

        code = await asyncio.to_thread(main, ["replay"])

    assert code == 1 and "another replay is running" in capsys.readouterr().err


class CtrlCOnce(io.StringIO):
    """stderr that stands for the operator pressing Ctrl-C when the first batch is shown."""

    pressed = False

    def write(self, text: str) -> int:
        if not self.pressed and text.startswith("rebuilding"):
            self.pressed = True
            raise KeyboardInterrupt
        return super().write(text)


async def test_an_interrupted_replay_says_where_it_stopped_and_resumes(
    platform: Platform,
) -> None:
    err, out = CtrlCOnce(), io.StringIO()

    stopped = await asyncio.to_thread(run_replay, platform.endpoints, batch_size=7, err=err)
    resumed = await asyncio.to_thread(run_replay, platform.endpoints, batch_size=7, out=out)

    assert stopped == 130 and "interrupted: the rebuild holds the log up to position" in (
        err.getvalue()
    )
    assert resumed == 0 and "resumed after position" in out.getvalue()
    assert count(platform.endpoints.database_url, "SELECT count(*) FROM analytics.messages") == 15
