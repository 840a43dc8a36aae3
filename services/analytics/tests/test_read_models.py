"""The read models on a real PostgreSQL: what the projection writes, across batches, once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from threadline.analytics.adapters.inbound.projection_consumer import ProjectionConsumer
from threadline.analytics.bootstrap import projection_consumer
from threadline.analytics.domain.write.rates import Rates, TokenPrice
from threadline.contracts.events.v1 import common_pb2
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.consumer import Delivery
from threadline.messaging.relay import POSITION

if TYPE_CHECKING:
    from conftest import EventLog

RATES = Rates(
    language_models={"default": TokenPrice(Decimal(1), Decimal(2))},
    whatsapp={"default": Decimal(0), "marketing": Decimal("0.05"), "utility": Decimal("0.01")},
)
TABLES = {
    "business_numbers": "id",
    "templates": "number_id, name, language",
    "contacts": "id",
    "contact_keys": "business_number, key",
    "conversations": "id",
    "messages": "id",
    "response_facts": "message_id",
    "attachments": "message_id",
    "tool_calls": "call_id",
}


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


async def rows(pool: AsyncConnectionPool[Any], query: str, *args: object) -> list[dict[str, Any]]:
    async with pool.connection() as connection, connection.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, args)
        return list(await cur.fetchall())


async def one(pool: AsyncConnectionPool[Any], query: str, *args: object) -> dict[str, Any]:
    [row] = await rows(pool, query, *args)
    return row


async def snapshot(pool: AsyncConnectionPool[Any]) -> dict[str, list[dict[str, Any]]]:
    return {
        table: await rows(pool, f"SELECT * FROM analytics.{table} ORDER BY {key}")
        for table, key in TABLES.items()
    }


async def started(projector: ProjectionConsumer, log: EventLog) -> UUID:
    contact, conversation = uuid4(), uuid4()
    await projector.handle(delivered(log.contact(contact), log.conversation(conversation, contact)))
    return conversation


async def answers(pool: AsyncConnectionPool[Any], conversation: UUID) -> list[tuple[Any, ...]]:
    found = await rows(
        pool,
        "SELECT message_id, answered_by, reply_message_id, response_seconds, first_unanswered"
        " FROM analytics.response_facts WHERE conversation_id = %s ORDER BY position",
        conversation,
    )
    return [tuple(row.values()) for row in found]


async def test_a_reply_answers_every_waiting_message_timed_from_the_first(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    projector = projection_consumer(pool)
    conversation = await started(projector, log)
    await projector.handle(delivered(log.inbound(conversation, "m-1")))
    log.wait(timedelta(seconds=29))
    await projector.handle(delivered(log.inbound(conversation, "m-2")))
    log.wait(timedelta(seconds=9))

    await projector.handle(delivered(log.queued(conversation, "r-1", author="ai")))

    # m-1 at t, m-2 at t+30 s, r-1 at t+40 s: one response, 40 s, from the first waiting.
    assert await answers(pool, conversation) == [
        ("m-1", "ai", "r-1", 40.0, True),
        ("m-2", "ai", "r-1", 40.0, False),
    ]
    response = await one(
        pool, "SELECT * FROM analytics.responses WHERE conversation_id = %s", conversation
    )
    assert (response["messages_answered"], response["response_seconds"]) == (2, 40.0)


async def test_a_reply_answers_only_the_messages_before_it_in_the_same_batch(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    projector = projection_consumer(pool)
    conversation = await started(projector, log)

    await projector.handle(
        delivered(
            log.inbound(conversation, "m-1"),
            log.queued(conversation, "r-1", author="agent"),
            log.queued(conversation, "r-2", author="ai"),
            log.inbound(conversation, "m-2"),
        )
    )

    assert await answers(pool, conversation) == [
        ("m-1", "agent", "r-1", 1.0, True),
        ("m-2", None, None, None, False),
    ]


async def test_a_billable_message_is_charged_once_whichever_batches_repeat_its_pricing(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    projector = projection_consumer(pool, rates=RATES)
    conversation = await started(projector, log)
    marketing = common_pb2.Pricing(billable=True, category="marketing", pricing_model="PMP")
    await projector.handle(
        delivered(
            log.queued(conversation, "r-1", author="agent"),
            log.status(conversation, "r-1", "sent", pricing=marketing),
        )
    )

    await projector.handle(
        delivered(
            log.status(conversation, "r-1", "delivered", pricing=marketing),
            log.status(conversation, "r-1", "sent", late=True, pricing=marketing),
        )
    )

    message = await one(pool, "SELECT * FROM analytics.messages WHERE id = 'r-1'")
    talk = await one(pool, "SELECT * FROM analytics.conversations WHERE id = %s", conversation)
    assert message["whatsapp_cost"] == Decimal("0.05")
    assert message["pricing"]["category"] == "marketing"
    assert [(h["status"], h.get("late", False)) for h in message["status_history"]] == [
        ("queued", False),
        ("sent", False),
        ("delivered", False),
        ("sent", True),
    ]
    assert (message["status"], talk["whatsapp_cost"], talk["cost"]) == (
        "delivered",
        Decimal("0.05"),
        Decimal("0.05"),
    )


async def test_ai_replies_add_tokens_and_cost_and_the_first_model_stays_the_assistant(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    projector = projection_consumer(pool, rates=RATES)
    conversation = await started(projector, log)
    await projector.handle(
        delivered(log.queued(conversation, "r-1", model="alpha", prompt_tokens=1000))
    )

    await projector.handle(
        delivered(log.queued(conversation, "r-2", model="beta", completion_tokens=500))
    )

    talk = await one(pool, "SELECT * FROM analytics.conversations WHERE id = %s", conversation)
    assert talk["assistant"] == "alpha"
    assert (talk["prompt_tokens"], talk["completion_tokens"], talk["tokens"]) == (1000, 500, 1500)
    assert talk["llm_cost"] == talk["cost"] == Decimal(2)  # 1 x 1 + 0.5 x 2
    reply = await one(pool, "SELECT * FROM analytics.messages WHERE id = 'r-2'")
    assert (reply["model"], reply["completion_tokens"], reply["llm_cost"]) == ("beta", 500, 1)


async def test_hand_offs_count_across_batches_and_resolution_closes_the_conversation(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    projector = projection_consumer(pool)
    conversation = await started(projector, log)
    await projector.handle(
        delivered(log.status_changed(conversation, "escalated", ai_paused=True, by="ai"))
    )
    await projector.handle(delivered(log.status_changed(conversation, "active")))
    await projector.handle(
        delivered(
            log.status_changed(conversation, "escalated", ai_paused=True),
            log.flow_step(conversation, "survey", "q1"),
        )
    )

    await projector.handle(
        delivered(log.status_changed(conversation, "abandoned", reason="idle", by="system"))
    )

    talk = await one(pool, "SELECT * FROM analytics.conversations WHERE id = %s", conversation)
    assert (talk["status"], talk["ai_paused"], talk["hand_offs"]) == ("abandoned", False, 2)
    assert (talk["status_reason"], talk["status_changed_by"]) == ("idle", "system")
    assert talk["closed_at"] == talk["status_changed_at"] == log.now
    assert (talk["flow_id"], talk["flow_step"], talk["flow_completed"]) == ("survey", "q1", False)


async def test_edits_deletions_and_reactions_change_the_messages_they_name(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    projector = projection_consumer(pool)
    conversation = await started(projector, log)
    await projector.handle(
        delivered(
            log.inbound(conversation, "m-1", text="Table for 2"),
            log.inbound(conversation, "m-2", text="oops"),
            log.queued(conversation, "r-1", text="Booked!"),
        )
    )

    await projector.handle(
        delivered(
            log.changed(conversation, "e-1", kind="edit", target="m-1", text="Table for 3"),
            log.changed(conversation, "e-2", kind="edit", target="m-1", text="Table for 4"),
            log.changed(conversation, "d-1", kind="revoke", target="m-2"),
            log.changed(conversation, "x-1", kind="reaction", target="r-1", text="🙏"),
        )
    )

    found = {
        row["id"]: row
        for row in await rows(
            pool, "SELECT * FROM analytics.messages WHERE conversation_id = %s", conversation
        )
    }
    assert set(found) == {"m-1", "m-2", "r-1"}
    edited, deleted, reacted = found["m-1"], found["m-2"], found["r-1"]
    assert (edited["content"], edited["original_content"]) == ("Table for 4", "Table for 2")
    assert [e["text"] for e in edited["edits"]] == ["Table for 3", "Table for 4"]
    assert (deleted["deleted"], deleted["status"]) == (True, "deleted")
    assert deleted["deleted_at"] is not None
    assert (reacted["reaction"], len(reacted["reactions"])) == ("🙏", 1)
    talk = await one(pool, "SELECT * FROM analytics.conversations WHERE id = %s", conversation)
    assert talk["message_count"] == 3


async def test_contacts_learn_linked_ids_and_new_names(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    projector = projection_consumer(pool)
    contact = uuid4()
    await projector.handle(
        delivered(
            log.key_claimed(contact, "bsuid:US.77"),
            log.contact(contact, wa_id="", user_id="US.77"),
        )
    )

    await projector.handle(
        delivered(
            log.identity_linked(contact, wa_id="15550007777"),
            log.key_claimed(contact, "wa:15550007777"),
            log.renamed(contact, "Ana Maria"),
        )
    )

    row = await one(pool, "SELECT * FROM analytics.contacts WHERE id = %s", contact)
    keys = await rows(
        pool, "SELECT key FROM analytics.contact_keys WHERE contact_id = %s ORDER BY key", contact
    )
    assert (row["wa_id"], row["user_id"], row["name"]) == ("15550007777", "US.77", "Ana Maria")
    assert [k["key"] for k in keys] == ["bsuid:US.77", "wa:15550007777"]


async def test_templates_and_settings_belong_to_their_business_number(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    projector = projection_consumer(pool)
    number = uuid4()
    await projector.handle(delivered(log.number(number, number="pn-templates")))

    await projector.handle(
        delivered(
            log.template(number, "order_shipped"),
            log.autopilot(number, enabled=False),
            log.auto_resolution(number, hours=4),
        )
    )

    template = await one(pool, "SELECT * FROM analytics.templates WHERE number_id = %s", number)
    settings = await one(pool, "SELECT * FROM analytics.business_numbers WHERE id = %s", number)
    assert (template["business_number"], template["parameter_count"]) == ("pn-templates", 1)
    assert (settings["autopilot"], settings["auto_resolve_hours"]) == (False, 4)


def story(log: EventLog) -> Sequence[SessionEvent]:
    """One conversation with every kind of event the read models use."""
    number, contact, conversation = uuid4(), uuid4(), uuid4()
    marketing = common_pb2.Pricing(billable=True, category="marketing")
    return [
        log.number(number),
        log.template(number, "welcome"),
        log.key_claimed(contact, "wa:15550001111"),
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, "m-1"),
        log.queued(conversation, "r-1", model="alpha", prompt_tokens=100),
        log.dispatched(conversation, "r-1", "wamid.r-1"),
        log.status(conversation, "r-1", "sent", pricing=marketing),
        log.status(conversation, "r-1", "delivered", pricing=marketing),
        log.changed(conversation, "x-1", kind="reaction", target="r-1", text="👍"),
        log.status_changed(conversation, "escalated", ai_paused=True),
        log.inbound(conversation, "m-2"),
        log.queued(conversation, "r-2", author="agent"),
        log.renamed(contact, "Ana B."),
        log.status_changed(conversation, "completed"),
    ]


async def test_a_story_delivered_twice_in_any_batching_leaves_the_same_rows(
    pool: AsyncConnectionPool[Any], log: EventLog
) -> None:
    events = story(log)
    projector = projection_consumer(pool, rates=RATES)
    await projector.handle(delivered(*events[:7]))
    await projector.handle(delivered(*events[4:12]))
    await projector.handle(delivered(*events))
    once = await snapshot(pool)

    for event in events:
        await projector.handle(delivered(event))
    await projector.handle(delivered(*reversed(events)))

    assert await snapshot(pool) == once
    assert len(once["response_facts"]) == 2
    assert once["conversations"][0]["whatsapp_cost"] == Decimal("0.05")
