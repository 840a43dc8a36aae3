"""Templates and media the business sends keep a readable text in the conversation (issue 11
item 8): the template's body with its parameters filled in, a media's caption or file name."""

from __future__ import annotations

import json
from collections.abc import Callable
from uuid import UUID, uuid4

import pytest

from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import DraftedReply, InboundMessage, OutboundRequest
from threadline.session.domain.business_number import Template
from threadline.session.domain.contact import Contact
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.identity import contact_id
from threadline.session.domain.readable_content import with_readable_text

InboundFactory = Callable[..., InboundMessage]

ORDER_UPDATE = Template(
    name="order_update",
    language="en_US",
    category="UTILITY",
    body="Hi {{1}}, your order {{2}} ships {{ 3 }}.",
    parameter_count=3,
)


def template_content(*parameters: object, name: str = "order_update") -> dict[str, str]:
    payload = {
        "name": name,
        "language": {"code": "en_US"},
        "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "not the body"}]},
            {"type": "body", "parameters": list(parameters)},
        ],
    }
    return {"type": "template", "text": "", "payload_json": json.dumps(payload)}


def media(kind: str, **fields: str) -> dict[str, str]:
    return {"type": kind, "text": "", "payload_json": json.dumps(fields)}


def test_a_registered_template_reads_as_its_body_with_the_parameters_filled_in() -> None:
    content = template_content(
        {"type": "text", "text": "Ana"},
        {"type": "currency", "currency": {"fallback_value": "$12.50", "code": "USD"}},
        {"type": "date_time", "date_time": {"fallback_value": "tomorrow"}},
    )

    readable = with_readable_text(content, ORDER_UPDATE)

    assert readable["text"] == "Hi Ana, your order $12.50 ships tomorrow."
    assert readable["payload_json"] == content["payload_json"]  # what is sent is unchanged


def test_a_template_without_a_known_body_reads_as_its_name_and_parameters() -> None:
    content = template_content({"type": "text", "text": "Ana"}, {"type": "image", "image": {}})

    assert with_readable_text(content)["text"] == "order_update(Ana, [image])"


def test_a_missing_parameter_leaves_its_placeholder() -> None:
    content = template_content({"type": "text", "text": "Ana"})

    assert with_readable_text(content, ORDER_UPDATE)["text"] == (
        "Hi Ana, your order {{2}} ships {{ 3 }}."
    )


@pytest.mark.parametrize(
    ("content", "readable"),
    [
        (media("image", link="https://cdn.example/p/cat.jpg", caption=" A cat "), "A cat"),
        (media("document", id="123", filename="invoice-42.pdf"), "invoice-42.pdf"),
        (
            media("document", link="https://cdn.example/files/price%20list.pdf?v=2"),
            "price list.pdf",
        ),
        (media("video", link="https://cdn.example/"), "[video]"),
        (media("audio", id="998877"), "[audio]"),
        (media("sticker", id="1"), "[sticker]"),
        ({"type": "image", "text": "", "payload_json": "not json"}, "[image]"),
    ],
)
def test_media_reads_as_its_caption_else_its_file_name_else_its_type(
    content: dict[str, str], readable: str
) -> None:
    assert with_readable_text(content)["text"] == readable


def test_a_message_with_its_own_text_and_other_types_are_left_as_they_are() -> None:
    captioned = {**media("image", id="1", caption="from the payload"), "text": "given"}
    location = {"type": "location", "text": "", "payload_json": '{"latitude": 1}'}

    assert with_readable_text(captioned) is captioned
    assert with_readable_text(location) is location


# Where the session accepts messages ---------------------------------------------------------------


def conversation(app: Conversations, inbound: InboundFactory, wa_id: str) -> UUID:
    app.record_facts([inbound(wa_id=wa_id)])
    contact = app.repository.get(contact_id("pn-1", wa_id, ""))
    assert isinstance(contact, Contact) and contact.open_conversation_id is not None
    return contact.open_conversation_id


def queued_texts(app: Conversations, conversation_id: UUID) -> list[str]:
    return [
        e.content["text"]
        for e in app.events.get(conversation_id)
        if isinstance(e, Conversation.OutboundMessageQueued)
    ]


def test_send_message_stores_templates_and_media_with_their_readable_text(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id = conversation(app, inbound, "15559300001")
    app.register_template(
        "pn-1", name="order_update", language="en_US", category="UTILITY", body=ORDER_UPDATE.body
    )
    words = ({"type": "text", "text": w} for w in ("Ana", "#42", "today"))
    for content in (
        template_content(*words),
        media("document", link="https://cdn.example/invoice.pdf"),
    ):
        app.send_message(
            OutboundRequest(
                conversation_id=conversation_id, idempotency_key=uuid4().hex, content=content
            )
        )

    assert queued_texts(app, conversation_id) == [
        "Hi Ana, your order #42 ships today.",
        "invoice.pdf",
    ]


def test_a_drafted_image_keeps_its_caption_as_its_text(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id = conversation(app, inbound, "15559300002")

    app.record_facts(
        [
            DraftedReply(
                draft_id="draft-image-1",
                conversation_id=conversation_id,
                in_reply_to_message_id="m-1",
                content=media("image", link="https://cdn.example/menu.png", caption="Our menu"),
            )
        ]
    )

    assert queued_texts(app, conversation_id) == ["Our menu"]
