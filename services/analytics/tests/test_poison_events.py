"""Issue 8's reproductions against the analytics service on real NATS and PostgreSQL: one
event stops nothing but itself, and what PostgreSQL cannot hold as sent is stored anyway."""

from __future__ import annotations

import json
import random
import string
from typing import TYPE_CHECKING
from uuid import uuid4

from prometheus_client import REGISTRY

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.messaging.dead_letters import REASON

if TYPE_CHECKING:
    from conftest import EventLog, RunningAnalytics


def unindexable(length: int = 3000) -> str:
    """A value too long for a b-tree index row (random: compression cannot shrink it)."""
    return "".join(random.choices(string.ascii_letters + string.digits, k=length))


async def conversation(analytics: RunningAnalytics, conversation_id: str) -> pb.ConversationDetail:
    reply: pb.ConversationDetail = await analytics.queries.GetConversation(
        pb.GetConversationRequest(conversation_id=conversation_id), metadata=analytics.reader
    )
    return reply


async def test_a_business_number_too_long_for_an_index_stops_only_its_own_events(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    """Reproduction 2: a 3,000-character phone_number_id made PostgreSQL refuse the index row
    (ProgramLimitExceeded, an OperationalError) and the projection retried it forever."""
    hostile = unindexable()
    number, contact, talk = uuid4(), uuid4(), uuid4()
    await analytics.publish(
        log.number(number, number=hostile),
        log.contact(contact, number=hostile),
        log.conversation(talk, contact, number=hostile),
        log.inbound(talk, "m-hostile"),
    )
    other_contact, other_talk = uuid4(), uuid4()
    await analytics.publish(
        log.contact(other_contact, wa_id="15550002222"),
        log.conversation(other_talk, other_contact, wa_id="15550002222"),
        log.inbound(other_talk, "m-everyone-else", text="still answered"),
    )
    await analytics.projected(log.position)

    dead = await analytics.dead_letters(count=3)
    others = await conversation(analytics, str(other_talk))

    assert [m.content for m in others.messages] == ["still answered"]
    assert {d.subject for d in dead} == {analytics.topology.subject("dlq.analytics.unprojectable")}
    assert all("ProgramLimitExceeded" in (d.headers or {})[REASON] for d in dead)
    assert len(dead) == 3  # the number, the contact and the conversation; nothing else


async def test_nul_and_numbers_jsonb_cannot_hold_are_stored_not_dead_lettered(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    """Reproduction 7: NUL anywhere, or NaN/Infinity in metadata, dead-lettered the event:
    stored and answered by the session, yet absent from every read model."""
    contact, talk = uuid4(), uuid4()
    metadata = (
        '{"note": "a\\u0000b", "k\\u0000": 1, "nan": NaN, "inf": Infinity,'
        ' "huge": 1e999, "kept": 1.5, "escaped": "\\\\u0000"}'
    )
    await analytics.publish(
        log.contact(contact),
        log.conversation(talk, contact),
        log.inbound(talk, "m-nul\x00", text="hello\x00world", metadata=metadata),
    )
    await analytics.publish(log.inbound(talk, "m-next", text="next"))
    await analytics.projected(log.position)

    found = await conversation(analytics, str(talk))

    assert [m.id for m in found.messages] == ["m-nul\ufffd", "m-next"]
    assert found.messages[0].content == "hello\ufffdworld"
    stored = json.loads(found.messages[0].metadata_json)
    stored.pop("status_history")
    assert stored == {
        "note": "a\ufffdb",
        "k\ufffd": 1,
        "nan": None,
        "inf": None,
        "huge": None,
        "kept": 1.5,
        "escaped": "\\u0000",  # a backslash and "u0000" as text: not a NUL
    }
    assert await analytics._dead_letters() == []


async def test_the_same_message_id_in_two_conversations_keeps_the_first(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    """Reproduction 4: the session derives an inbound message's id from its wamid alone, so
    one wamid reaching two conversations broke the messages' primary key."""
    first_contact, first = uuid4(), uuid4()
    second_contact, second = uuid4(), uuid4()
    await analytics.publish(
        log.contact(first_contact),
        log.conversation(first, first_contact),
        log.contact(second_contact, wa_id="15550003333", number="pn-analytics-2"),
        log.conversation(second, second_contact, wa_id="15550003333", number="pn-analytics-2"),
        log.inbound(first, "wamid-derived-id", text="to the first number"),
    )
    await analytics.projected(log.position)
    before = REGISTRY.get_sample_value("threadline_analytics_duplicate_messages_total") or 0.0

    await analytics.publish(log.inbound(second, "wamid-derived-id", text="to the second"))
    await analytics.publish(log.inbound(second, "m-later", text="later"))
    await analytics.projected(log.position)

    kept, other = (
        await conversation(analytics, str(first)),
        await conversation(analytics, str(second)),
    )
    assert [m.content for m in kept.messages] == ["to the first number"]
    assert [m.content for m in other.messages] == ["later"]
    assert REGISTRY.get_sample_value("threadline_analytics_duplicate_messages_total") == before + 1
    assert await analytics._dead_letters() == []
