"""A conversation's flow (seed 000's fields) and the data collected from its customer (issue
12): projected from the session's events, written to PostgreSQL and read back as the
`Conversation` and `Lead` protos."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from threadline.analytics.adapters.inbound.grpc.proto_mapping import conversation_pb
from threadline.analytics.application.read.queries import ConversationQueries
from threadline.analytics.bootstrap import projection_consumer
from threadline.analytics.domain.write.projection import project
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.consumer import Delivery
from threadline.messaging.relay import POSITION
from threadline.servicekit.auth import Principal

if TYPE_CHECKING:
    from conftest import EventLog

READER = Principal(roles=frozenset({"read"}), numbers=None)


def delivered(*events: SessionEvent) -> list[Delivery]:
    return [
        Delivery(
            f"session.events.{e.WhichOneof('body')}",
            e.SerializeToString(),
            {POSITION: str(e.position)},
            i,
            1,
        )
        for i, e in enumerate(events, start=1)
    ]


async def one(pool: AsyncConnectionPool[Any], query: str, *args: object) -> dict[str, Any]:
    async with pool.connection() as connection, connection.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, args)
        [row] = await cur.fetchall()
        found: dict[str, Any] = row
        return found


def test_a_step_brings_its_data_expiry_and_status(log: EventLog) -> None:
    conversation = uuid4()
    expires = log.now + timedelta(minutes=30)

    patch = project(
        [
            log.flow_step(
                conversation, "booking", "ask-name", expires_at=expires, status="running"
            ),
            log.flow_step(
                conversation,
                "booking",
                "ask-date",
                data={"name": "Ana", "guests": 2},
                expires_at=expires + timedelta(minutes=5),
                status="running",
                flow_version=3,
            ),
        ]
    ).conversation_patches[conversation]

    assert (patch.flow_id, patch.flow_step, patch.flow_completed) == ("booking", "ask-date", False)
    assert patch.session_data == {"name": "Ana", "guests": 2}
    assert (patch.flow_expires_at, patch.flow_status) == (expires + timedelta(minutes=5), "running")


def test_a_step_recorded_before_statuses_is_running_or_completed_by_its_flag(
    log: EventLog,
) -> None:
    running, done = uuid4(), uuid4()

    changes = project(
        [
            log.flow_step(running, "booking", "ask-date"),
            log.flow_step(done, "booking", "end", completed=True),
        ]
    )

    assert changes.conversation_patches[running].flow_status == "running"
    assert changes.conversation_patches[done].flow_status == "completed"
    assert changes.conversation_patches[done].flow_expires_at is None
    assert changes.conversation_patches[done].session_data == {}


def test_collected_fields_merge_on_the_contact_and_a_text_email_is_kept_apart(
    log: EventLog,
) -> None:
    contact, conversation = uuid4(), uuid4()

    patch = project(
        [
            log.data_collected(contact, conversation, {"name": "Ana", "email": "a@example.com"}),
            log.data_collected(contact, conversation, {"email": "ana@example.pt", "date": "2"}),
            log.data_collected(contact, conversation, {"email": None}),
        ]
    ).contact_patches[contact]

    assert patch.data == {"name": "Ana", "email": None, "date": "2"}
    assert patch.email == "ana@example.pt"  # the latest email that is text


def test_collected_data_and_flow_data_merge_into_the_session_data(log: EventLog) -> None:
    conversation = uuid4()

    patch = project(
        [
            log.conversation_data_collected(conversation, {"email": "a@example.com"}),
            log.flow_step(conversation, "booking", "ask-date", data={"name": "Ana"}),
            log.conversation_data_collected(conversation, {"email": "ana@example.pt"}),
        ]
    ).conversation_patches[conversation]

    assert patch.session_data == {"email": "ana@example.pt", "name": "Ana"}
    assert patch.flow_step == "ask-date"


async def started(pool: AsyncConnectionPool[Any], log: EventLog) -> tuple[UUID, UUID]:
    contact, conversation = uuid4(), uuid4()
    await projection_consumer(pool).handle(
        delivered(log.contact(contact), log.conversation(conversation, contact))
    )
    return contact, conversation


async def test_the_conversation_api_shows_the_flow_and_the_lead_its_collected_data(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    contact, conversation = await started(pool, log)
    projector = projection_consumer(pool)
    expires = log.now + timedelta(minutes=30)
    await projector.handle(
        delivered(
            log.flow_step(
                conversation,
                "booking",
                "ask-date",
                data={"name": "Ana Souza", "email": "ana@example.com"},
                expires_at=expires,
                status="running",
                flow_version=2,
            ),
            log.data_collected(
                contact, conversation, {"name": "Ana Souza", "email": "ana@example.com"}
            ),
        )
    )
    await projector.handle(delivered(log.renamed(contact, "Ana (WhatsApp)")))

    before = conversation_pb(
        (await ConversationQueries(pool).get_conversation(READER, conversation)).conversation
    )
    await projector.handle(
        delivered(
            log.flow_step(
                conversation,
                "booking",
                "done",
                completed=True,
                data={"name": "Ana Souza", "email": "ana@example.com", "date": "2026-06-02"},
                status="completed",
            ),
            log.data_collected(contact, conversation, {"date": "2026-06-02"}),
        )
    )
    after = conversation_pb(
        (await ConversationQueries(pool).get_conversation(READER, conversation)).conversation
    )

    assert (before.conversation_flow_id, before.current_step_id) == ("booking", "ask-date")
    assert (before.is_completed, before.flow_status) == (False, "running")
    assert before.flow_expires_at.ToDatetime(tzinfo=expires.tzinfo) == expires
    assert json.loads(before.session_data_json) == {"name": "Ana Souza", "email": "ana@example.com"}
    # The name the customer gave the flow, not the WhatsApp profile name, even one newer.
    assert (before.lead.name, before.lead.email) == ("Ana Souza", "ana@example.com")
    assert (after.current_step_id, after.is_completed, after.flow_status) == (
        "done",
        True,
        "completed",
    )
    assert not after.HasField("flow_expires_at")  # the last step named no expiry
    assert json.loads(after.lead.data_json) == {
        "name": "Ana Souza",
        "email": "ana@example.com",
        "date": "2026-06-02",
    }
    row = await one(pool, "SELECT name, email FROM analytics.contacts WHERE id = %s", contact)
    assert row == {"name": "Ana (WhatsApp)", "email": "ana@example.com"}


async def test_the_conversation_api_shows_what_the_assistant_collected_with_the_flow_data(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    _, conversation = await started(pool, log)
    projector = projection_consumer(pool)
    await projector.handle(
        delivered(log.conversation_data_collected(conversation, {"email": "ana@example.com"}))
    )
    await projector.handle(
        delivered(
            log.flow_step(conversation, "booking", "ask-date", data={"name": "Ana Souza"}),
            log.conversation_data_collected(conversation, {"phone": "+5511912345678"}),
        )
    )

    shown = conversation_pb(
        (await ConversationQueries(pool).get_conversation(READER, conversation)).conversation
    )

    assert json.loads(shown.session_data_json) == {
        "email": "ana@example.com",
        "name": "Ana Souza",
        "phone": "+5511912345678",
    }
    assert shown.current_step_id == "ask-date"


async def test_a_conversation_without_a_flow_shows_empty_flow_fields(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    _, conversation = await started(pool, log)

    shown = conversation_pb(
        (await ConversationQueries(pool).get_conversation(READER, conversation)).conversation
    )

    assert (shown.conversation_flow_id, shown.current_step_id, shown.flow_status) == ("", "", "")
    assert (shown.session_data_json, shown.is_completed) == ("{}", False)
    assert not shown.HasField("flow_expires_at")
    assert (shown.lead.name, shown.lead.email, shown.lead.data_json) == ("Ana", "", "{}")
