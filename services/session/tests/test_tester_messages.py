"""The test chat in the session (issue 13 item 4): a tester's message is a customer message of
the tester's synthetic contact, on channel `test`, recorded once per idempotency key, in a
conversation whose window never closes; a WhatsApp customer's conversations are unchanged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

from threadline.session.application.contacts import find_contact
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import InboundMessage, MessageFromTester, OutboundRequest
from threadline.session.application.unit_of_work import UnitOfWork
from threadline.testing.clock import FakeClock

InboundFactory = Callable[..., InboundMessage]


def said(text: str, key: str = "", tester: str = "Marta") -> MessageFromTester:
    return MessageFromTester(
        phone_number_id="pn-1",
        tester=tester,
        content={"type": "text", "text": text, "payload_json": ""},
        idempotency_key=key or uuid4().hex,
    )


def test_a_testers_message_opens_a_test_conversation_of_their_own(app: Conversations) -> None:
    conversation_id, message_id = app.send_test_message(said("Hello"))

    talk = app.find_conversation(conversation_id)
    assert (talk.channel, talk.customer_user_id, talk.customer_wa_id) == ("test", "test:Marta", "")
    assert str(message_id) in talk.messages
    assert app.send_test_message(said("Again"))[0] == conversation_id
    assert app.send_test_message(said("Hi", tester="Rui"))[0] != conversation_id


def test_a_repeated_key_records_nothing_new(app: Conversations) -> None:
    first = app.send_test_message(said("Hello", key="k-1"))
    again = app.send_test_message(said("Hello", key="k-1"))

    assert again == first
    assert len(app.find_conversation(first[0]).messages) == 1


def test_the_test_chats_window_never_closes(app: Conversations, clock: FakeClock) -> None:
    conversation_id, _ = app.send_test_message(said("Hello"))
    clock.advance(timedelta(days=30))

    _, message_id = app.send_message(
        OutboundRequest(
            conversation_id=conversation_id,
            idempotency_key=uuid4().hex,
            content={"type": "text", "text": "Still here", "payload_json": ""},
        )
    )

    assert str(message_id) in app.find_conversation(conversation_id).messages


def test_a_whatsapp_customer_is_still_on_whatsapp(
    app: Conversations, inbound: InboundFactory
) -> None:
    app.send_test_message(said("Hello"))
    app.record_facts([inbound(wa_id="15553009")])

    contact = find_contact(UnitOfWork(app.repository), "pn-1", "15553009", "")
    assert contact is not None and contact.open_conversation_id is not None
    talk = app.find_conversation(contact.open_conversation_id)
    assert (talk.channel, talk.session_key) == ("whatsapp", "whatsapp_+15553009")
