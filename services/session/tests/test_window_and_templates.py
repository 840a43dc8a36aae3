"""The 24-hour window (72 after a free entry point), templates and the category."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest

from threadline.session.application.contacts import find_contact
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import InboundMessage, OutboundRequest
from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.application.views import ConversationView
from threadline.session.domain.business_number import TemplateNotFound
from threadline.session.domain.errors import InvalidMessage, WindowClosed
from threadline.testing.clock import FakeClock

InboundFactory = Callable[..., InboundMessage]


def started(app: Conversations, fact: InboundMessage) -> ConversationView:
    app.record_facts([fact])
    contact = find_contact(UnitOfWork(app.repository), fact.phone_number_id, fact.wa_id, "")
    assert contact is not None and contact.open_conversation_id is not None
    return app.find_conversation(contact.open_conversation_id)


def text(conversation: ConversationView) -> OutboundRequest:
    return OutboundRequest(
        conversation_id=conversation.id,
        idempotency_key=uuid4().hex,
        content={"type": "text", "text": "Following up", "payload_json": ""},
    )


def template(name: str, *parameters: str, **target: str) -> OutboundRequest:
    payload = {
        "name": name,
        "language": {"code": "en_US"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}
        ],
    }
    return OutboundRequest(
        idempotency_key=uuid4().hex,
        **target,  # type: ignore[arg-type]
        content={"type": "template", "text": "", "payload_json": json.dumps(payload)},
    )


def test_free_form_text_is_accepted_inside_the_window(
    app: Conversations, inbound: InboundFactory, clock: FakeClock
) -> None:
    conversation = started(app, inbound(wa_id="15553001"))
    clock.advance(timedelta(hours=23, minutes=59))

    _, message_id = app.send_message(text(conversation))

    assert str(message_id) in app.find_conversation(conversation.id).messages


def test_free_form_text_after_24_hours_is_refused_with_the_closing_time_and_templates(
    app: Conversations, inbound: InboundFactory, clock: FakeClock
) -> None:
    conversation = started(app, inbound(wa_id="15553002"))
    app.register_template(
        "pn-1",
        name="order_update",
        language="en_US",
        category="UTILITY",
        body="Your order {{1}} ships {{2}}.",
    )
    clock.advance(timedelta(hours=24))

    with pytest.raises(WindowClosed) as refused:
        app.send_message(text(conversation))

    closes = clock.now.isoformat()  # the message came 24 hours ago
    assert f"closed at {closes}" in str(refused.value)
    assert refused.value.templates == ["order_update (en_US)"]


def test_an_ad_referral_opens_a_72_hour_window(
    app: Conversations, inbound: InboundFactory, clock: FakeClock
) -> None:
    conversation = started(app, inbound(wa_id="15553003", free_entry=True))
    clock.advance(timedelta(hours=71))

    app.send_message(text(conversation))

    clock.advance(timedelta(hours=1))
    with pytest.raises(WindowClosed):
        app.send_message(text(conversation))


def test_a_registered_template_is_accepted_outside_the_window(
    app: Conversations, inbound: InboundFactory, clock: FakeClock
) -> None:
    conversation = started(app, inbound(wa_id="15553004"))
    app.register_template(
        "pn-1",
        name="order_update",
        language="en_US",
        category="UTILITY",
        body="Your order {{1}} ships {{2}}.",
    )
    clock.advance(timedelta(days=3))

    _, message_id = app.send_message(
        template("order_update", "A-17", "today", conversation_id=conversation.id)
    )

    assert str(message_id) in app.find_conversation(conversation.id).messages


def test_a_template_with_the_wrong_number_of_parameters_is_refused(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation = started(app, inbound(wa_id="15553005"))
    app.register_template(
        "pn-1",
        name="order_update",
        language="en_US",
        category="UTILITY",
        body="Your order {{1}} ships {{2}}.",
    )

    with pytest.raises(InvalidMessage, match="takes 2 body parameters, got 1"):
        app.send_message(template("order_update", "A-17", conversation_id=conversation.id))


def test_an_unregistered_template_is_refused(app: Conversations, inbound: InboundFactory) -> None:
    conversation = started(app, inbound(wa_id="15553006"))

    with pytest.raises(TemplateNotFound, match="'welcome' \\(en_US\\) is not registered"):
        app.send_message(template("welcome", conversation_id=conversation.id))


def test_a_template_body_must_number_its_placeholders_from_one(app: Conversations) -> None:
    with pytest.raises(InvalidMessage, match="placeholders"):
        app.register_template(
            "pn-1", name="bad", language="en", category="MARKETING", body="Hello {{2}}"
        )


def test_templates_are_listed_per_number(app: Conversations) -> None:
    app.register_template("pn-1", name="b", language="en", category="MARKETING", body="B {{1}}")
    app.register_template("pn-1", name="a", language="en", category="UTILITY", body="A")
    app.register_template("pn-2", name="c", language="en", category="UTILITY", body="C")

    listed = app.templates("pn-1")

    assert [(t.name, t.category, t.parameter_count) for t in listed] == [
        ("a", "UTILITY", 0),
        ("b", "MARKETING", 1),
    ]


def test_a_conversation_the_customer_opened_is_a_service_conversation(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation = started(app, inbound(wa_id="15553007"))

    assert (conversation.opened_by, conversation.category) == ("customer", "SERVICE")


def test_a_business_initiated_template_opens_a_conversation_of_its_category(
    app: Conversations,
) -> None:
    app.register_template(
        "pn-1", name="promo", language="en_US", category="MARKETING", body="{{1}}% off this week"
    )

    conversation_id, _ = app.send_message(
        template("promo", "20", phone_number_id="pn-1", customer_wa_id="15553008")
    )

    conversation = app.find_conversation(conversation_id)
    assert (conversation.opened_by, conversation.category) == ("business", "MARKETING")


def test_a_retried_send_with_the_same_idempotency_key_queues_nothing_new(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation = started(app, inbound(wa_id="15553009"))
    request = text(conversation)

    first = app.send_message(request)
    version = app.find_conversation(conversation.id).version
    again = app.send_message(request)

    assert first == again
    assert app.find_conversation(conversation.id).version == version
