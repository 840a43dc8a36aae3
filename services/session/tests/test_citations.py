"""The knowledge-base passages an AI reply used (issue 12 item 1): read from ReplyDrafted,
stored with the reply it queues, relayed on the queued message's event; a queued message stored
before citations existed reads back with none."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import pytest

from threadline.contracts.events.v1 import ai_pb2, common_pb2
from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.messaging.topology import REPLY_DRAFTED, Topology
from threadline.session.adapters.integration_events.event_bodies import BODIES
from threadline.session.adapters.integration_events.incoming_facts import decode_fact
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import DraftedReply, InboundMessage
from threadline.session.application.outcomes import APPLIED
from threadline.session.domain.citations import Citation
from threadline.session.domain.contact import Contact
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.identity import contact_id

HOURS = Citation(
    passage_id="412",
    document="opening-hours.md",
    knowledge_base="salon-faq",
    score=0.91,
    snippet="Lina's Hair Salon is open Tuesday to Saturday, 9:00 to 19:00.",
)


def open_conversation(app: Conversations, inbound: Callable[..., InboundMessage]) -> UUID:
    app.record_facts([inbound(wa_id="15558000078")])
    contact = app.repository.get(contact_id("pn-1", "15558000078", ""))
    assert isinstance(contact, Contact) and contact.open_conversation_id is not None
    return contact.open_conversation_id


def test_citations_are_read_from_the_drafted_reply() -> None:
    drafted = ai_pb2.ReplyDrafted(
        draft_id="draft-m-1",
        conversation_id="00000000-0000-0000-0000-000000000001",
        in_reply_to_message_id="m-1",
        content=common_pb2.MessageContent(type="text", text="Abrimos das 9h às 19h."),
        citations=[
            ai_pb2.Citation(
                passage_id="412",
                document="opening-hours.md",
                knowledge_base="salon-faq",
                score=0.91,
                snippet=HOURS.snippet,
            )
        ],
    )
    subject = Topology().publish_subject(REPLY_DRAFTED)

    fact = decode_fact(subject, drafted.SerializeToString())

    assert isinstance(fact, DraftedReply)
    assert fact.citations == (HOURS,)


def test_citations_are_stored_with_the_reply_and_relayed(
    app: Conversations, inbound: Callable[..., InboundMessage]
) -> None:
    conversation_id = open_conversation(app, inbound)
    draft = DraftedReply(
        draft_id="draft-m-2",
        conversation_id=conversation_id,
        in_reply_to_message_id="m-2",
        content={"type": "text", "text": "Abrimos das 9h às 19h."},
        model="offline:faq",
        citations=(HOURS,),
    )

    assert app.record_facts([draft]) == [APPLIED]

    (queued,) = [
        e
        for e in app.events.get(conversation_id)
        if isinstance(e, Conversation.OutboundMessageQueued)
    ]
    assert [Citation.from_stored(c) for c in queued.citations] == [HOURS]
    relayed = events_pb.SessionEvent()
    BODIES["Conversation.OutboundMessageQueued"](vars(queued), relayed)
    (cited,) = relayed.outbound_message_queued.citations
    assert (cited.passage_id, cited.document, cited.knowledge_base) == (
        "412",
        "opening-hours.md",
        "salon-faq",
    )
    assert cited.score == pytest.approx(0.91) and cited.snippet == HOURS.snippet


def test_a_queued_message_stored_without_citations_relays_none() -> None:
    relayed = events_pb.SessionEvent()
    BODIES["Conversation.OutboundMessageQueued"]({"message_id": "x", "author": "ai"}, relayed)

    assert list(relayed.outbound_message_queued.citations) == []
