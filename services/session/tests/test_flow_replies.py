"""Replies a flow's step wrote (issue 12): ReplyDrafted.author says `flow`, and the session queues
them as the flow's, not the AI's; any other author reads as the AI's."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import pytest

from threadline.contracts.events.v1 import ai_pb2, common_pb2
from threadline.messaging.topology import REPLY_DRAFTED, Topology
from threadline.session.adapters.integration_events.incoming_facts import decode_fact
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import DraftedReply, InboundMessage
from threadline.session.application.outcomes import APPLIED
from threadline.session.domain.contact import Contact
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.identity import contact_id


def open_conversation(app: Conversations, inbound: Callable[..., InboundMessage]) -> UUID:
    app.record_facts([inbound(wa_id="15558000078")])
    contact = app.repository.get(contact_id("pn-1", "15558000078", ""))
    assert isinstance(contact, Contact) and contact.open_conversation_id is not None
    return contact.open_conversation_id


@pytest.mark.parametrize(("sent", "read"), [("flow", "flow"), ("", "ai"), ("agent", "ai")])
def test_the_author_is_read_from_the_drafted_reply(sent: str, read: str) -> None:
    drafted = ai_pb2.ReplyDrafted(
        draft_id="flow-c-1-ask_name",
        conversation_id="00000000-0000-0000-0000-000000000001",
        in_reply_to_message_id="m-1",
        content=common_pb2.MessageContent(type="text", text="What is your name?"),
        author=sent,
    )

    fact = decode_fact(Topology().publish_subject(REPLY_DRAFTED), drafted.SerializeToString())

    assert isinstance(fact, DraftedReply) and fact.author == read


def test_a_flow_reply_is_queued_as_the_flows(
    app: Conversations, inbound: Callable[..., InboundMessage]
) -> None:
    conversation_id = open_conversation(app, inbound)
    draft = DraftedReply(
        draft_id="flow-c-2-ask_name",
        conversation_id=conversation_id,
        in_reply_to_message_id="m-2",
        content={"type": "text", "text": "What is your name?"},
        model="flow:salon-booking",
        author="flow",
    )

    assert app.record_facts([draft]) == [APPLIED]

    (queued,) = [
        e
        for e in app.events.get(conversation_id)
        if isinstance(e, Conversation.OutboundMessageQueued)
    ]
    assert queued.author == "flow"
