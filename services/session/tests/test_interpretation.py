"""What the assistant's model saw in the customer's images (issue 11 item 3): a draft's
interpretation is read from ReplyDrafted, stored with the reply it queues, and relayed on the
queued message's event."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from threadline.contracts.events.v1 import ai_pb2, common_pb2
from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.messaging.topology import REPLY_DRAFTED, Topology
from threadline.session.adapters.integration_events.event_bodies import BODIES
from threadline.session.adapters.integration_events.incoming_facts import decode_fact
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import DraftedReply, InboundMessage
from threadline.session.application.outcomes import APPLIED
from threadline.session.domain.contact import Contact
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.identity import contact_id

SEEN = "A phone whose screen is cracked across the top corner."


def open_conversation(app: Conversations, inbound: Callable[..., InboundMessage]) -> UUID:
    app.record_facts([inbound(wa_id="15558000077")])
    contact = app.repository.get(contact_id("pn-1", "15558000077", ""))
    assert isinstance(contact, Contact) and contact.open_conversation_id is not None
    return contact.open_conversation_id


def test_the_interpretation_is_read_from_the_drafted_reply() -> None:
    drafted = ai_pb2.ReplyDrafted(
        draft_id="draft-m-1",
        conversation_id="00000000-0000-0000-0000-000000000001",
        in_reply_to_message_id="m-1",
        content=common_pb2.MessageContent(type="text", text="Sorry about your screen!"),
        interpretation=SEEN,
    )
    subject = Topology().publish_subject(REPLY_DRAFTED)

    fact = decode_fact(subject, drafted.SerializeToString())

    assert isinstance(fact, DraftedReply) and fact.interpretation == SEEN


def test_the_interpretation_is_stored_with_the_reply_and_relayed(
    app: Conversations, inbound: Callable[..., InboundMessage]
) -> None:
    conversation_id = open_conversation(app, inbound)
    draft = DraftedReply(
        draft_id="draft-m-2",
        conversation_id=conversation_id,
        in_reply_to_message_id="m-2",
        content={"type": "text", "text": "Sorry about your screen!"},
        model="openai:gpt-4.1-mini",
        interpretation=SEEN,
    )

    assert app.record_facts([draft]) == [APPLIED]

    (queued,) = [
        e
        for e in app.events.get(conversation_id)
        if isinstance(e, Conversation.OutboundMessageQueued)
    ]
    assert queued.interpretation == SEEN
    relayed = events_pb.SessionEvent()
    BODIES["Conversation.OutboundMessageQueued"](vars(queued), relayed)
    assert relayed.outbound_message_queued.interpretation == SEEN
