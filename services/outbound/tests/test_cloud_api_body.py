import json

import pytest

from threadline.outbound.domain.cloud_api_body import UnsendableMessage, request_body
from threadline.outbound.domain.outbound_message import MessageContent, OutboundMessage, Recipient

PHONE = Recipient(wa_id="16505551234")


def outgoing(content: MessageContent, recipient: Recipient = PHONE) -> OutboundMessage:
    return OutboundMessage(
        message_id="m-1",
        conversation_id="c-1",
        phone_number_id="106540352242922",
        recipient=recipient,
        content=content,
    )


def test_text_message_becomes_a_cloud_api_text_body() -> None:
    message = outgoing(MessageContent(type="text", text="Hello there"))

    body = request_body(message)

    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"body": "Hello there", "preview_url": False},
    }


def test_text_message_with_its_own_object_keeps_it() -> None:
    own = {"body": "See https://example.com", "preview_url": True}
    message = outgoing(MessageContent(type="text", text="ignored", payload_json=json.dumps(own)))

    body = request_body(message)

    assert body["text"] == own


def test_other_types_carry_payload_json_as_their_object() -> None:
    image = {"link": "https://example.com/cat.jpg", "caption": "A cat"}
    message = outgoing(MessageContent(type="image", text="A cat", payload_json=json.dumps(image)))

    body = request_body(message)

    assert body["type"] == "image"
    assert body["image"] == image


def test_contacts_payload_is_a_list() -> None:
    contacts = [{"name": {"formatted_name": "Ana", "first_name": "Ana"}}]
    message = outgoing(MessageContent(type="contacts", payload_json=json.dumps(contacts)))

    body = request_body(message)

    assert body["contacts"] == contacts


def test_recipient_known_only_by_user_id_is_addressed_by_recipient() -> None:
    message = outgoing(
        MessageContent(type="text", text="Hi"), Recipient(user_id="US.1349120865530")
    )

    body = request_body(message)

    assert body["recipient"] == "US.1349120865530"
    assert "to" not in body


def test_wa_id_is_preferred_when_both_ids_are_known() -> None:
    message = outgoing(
        MessageContent(type="text", text="Hi"), Recipient(wa_id="4915", user_id="DE.77")
    )

    body = request_body(message)

    assert body["to"] == "4915"
    assert "recipient" not in body


def test_message_without_any_recipient_id_is_invalid() -> None:
    message = outgoing(MessageContent(type="text", text="Hi"), Recipient())

    with pytest.raises(UnsendableMessage, match="neither a wa_id nor a user_id"):
        request_body(message)


def test_non_text_message_without_payload_is_invalid() -> None:
    message = outgoing(MessageContent(type="image", text="caption only"))

    with pytest.raises(UnsendableMessage, match="carries no payload_json"):
        request_body(message)


def test_payload_that_is_not_json_is_invalid() -> None:
    message = outgoing(MessageContent(type="interactive", payload_json="{not json"))

    with pytest.raises(UnsendableMessage, match="not JSON"):
        request_body(message)


def test_payload_of_the_wrong_shape_is_invalid() -> None:
    message = outgoing(MessageContent(type="template", payload_json='["a list"]'))

    with pytest.raises(UnsendableMessage, match="non-empty JSON object"):
        request_body(message)


@pytest.mark.parametrize(
    "content",
    [
        MessageContent(type="text", text="Yes, two left"),
        MessageContent(type="image", payload_json='{"link": "https://example.com/cat.jpg"}'),
        MessageContent(type="document", payload_json='{"id": "1234", "filename": "a.pdf"}'),
        MessageContent(
            type="template",
            payload_json='{"name": "follow_up", "language": {"code": "en"}}',
        ),
        MessageContent(
            type="interactive",
            payload_json='{"type": "button", "body": {"text": "Book?"}, "action": {}}',
        ),
    ],
)
def test_a_message_answering_an_earlier_one_quotes_it_by_its_wamid(
    content: MessageContent,
) -> None:
    message = OutboundMessage(
        message_id="m-2",
        conversation_id="c-1",
        phone_number_id="106540352242922",
        recipient=PHONE,
        content=content,
        quoted_wamid="wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTdCQzE=",
    )

    body = request_body(message)

    assert body["context"] == {"message_id": "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTdCQzE="}
    assert body["type"] == content.type and content.type in body


def test_a_message_quoting_nothing_has_no_context() -> None:
    assert "context" not in request_body(outgoing(MessageContent(type="text", text="Hi")))
