from __future__ import annotations

from typing import Any

from threadline.sandbox.validation import message_type, validate_message


def text_message(body: str = "Hello") -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "to": "15551234567",
        "type": "text",
        "text": {"body": body},
    }


def interactive_message(interactive: dict[str, Any]) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "to": "15551234567",
        "type": "interactive",
        "interactive": interactive,
    }


def list_message(rows_per_section: list[int], *, row_title: str = "Row") -> dict[str, Any]:
    sections = [
        {
            "title": f"Section {s}",
            "rows": [{"id": f"s{s}r{r}", "title": row_title} for r in range(rows)],
        }
        for s, rows in enumerate(rows_per_section)
    ]
    return interactive_message(
        {
            "type": "list",
            "body": {"text": "Pick one"},
            "action": {"button": "Options", "sections": sections},
        }
    )


def test_a_plain_text_message_is_valid() -> None:
    assert validate_message(text_message()) == []


def test_text_length_counts_code_points_so_4096_emoji_are_allowed() -> None:
    assert validate_message(text_message("😀" * 4096)) == []


def test_text_over_4096_code_points_is_rejected() -> None:
    problems = validate_message(text_message("a" * 4097))

    assert problems == ["text.body is 4097 characters; the maximum is 4096"]


def test_messaging_product_other_than_whatsapp_is_rejected() -> None:
    problems = validate_message({**text_message(), "messaging_product": "sms"})

    assert problems == ["messaging_product must be 'whatsapp'"]


def test_recipient_may_stand_in_for_to() -> None:
    message = text_message()
    del message["to"]

    assert validate_message({**message, "recipient": "US.13491208655302741918"}) == []


def test_type_defaults_to_text() -> None:
    assert message_type({"text": {"body": "hi"}}) == "text"


def test_unknown_type_is_rejected() -> None:
    problems = validate_message({**text_message(), "type": "hologram"})

    assert problems[0].startswith("type 'hologram' is not supported")


def test_the_object_named_by_type_must_be_present() -> None:
    message = {"messaging_product": "whatsapp", "to": "15551234567", "type": "image"}

    assert validate_message(message) == ["image is required when type is 'image'"]


def test_media_needs_an_id_or_a_link() -> None:
    message = {
        "messaging_product": "whatsapp",
        "to": "15551234567",
        "type": "document",
        "document": {"caption": "invoice"},
    }

    assert validate_message(message) == ["document needs an id or a link"]


def test_template_needs_a_language_code() -> None:
    message = {
        "messaging_product": "whatsapp",
        "to": "15551234567",
        "type": "template",
        "template": {"name": "hello_world", "language": {}},
    }

    assert validate_message(message) == ["template.language.code is required"]


def test_unknown_interactive_type_is_rejected() -> None:
    problems = validate_message(interactive_message({"type": "carousel", "action": {}}))

    assert problems[0].startswith("interactive.type 'carousel' is not supported")


def test_interactive_body_over_1024_code_points_is_rejected() -> None:
    message = interactive_message(
        {
            "type": "button",
            "body": {"text": "b" * 1025},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "Yes"}}]},
        }
    )

    assert validate_message(message) == [
        "interactive.body.text is 1025 characters; the maximum is 1024"
    ]


def test_footer_over_60_code_points_is_rejected() -> None:
    message = interactive_message(
        {
            "type": "button",
            "body": {"text": "Pick"},
            "footer": {"text": "f" * 61},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "Yes"}}]},
        }
    )

    assert validate_message(message) == [
        "interactive.footer.text is 61 characters; the maximum is 60"
    ]


def test_ten_list_rows_across_sections_are_allowed() -> None:
    assert validate_message(list_message([5, 5])) == []


def test_eleven_list_rows_across_sections_are_rejected() -> None:
    problems = validate_message(list_message([6, 5]))

    assert problems == ["interactive.action.sections has 11 rows in all; the maximum is 10"]


def test_list_row_title_over_24_code_points_is_rejected() -> None:
    problems = validate_message(list_message([1], row_title="r" * 25))

    assert problems == [
        "interactive.action.sections[0].rows[0].title is 25 characters; the maximum is 24"
    ]


def test_cta_url_label_over_20_code_points_is_rejected() -> None:
    message = interactive_message(
        {
            "type": "cta_url",
            "body": {"text": "See the menu"},
            "action": {
                "name": "cta_url",
                "parameters": {"display_text": "x" * 21, "url": "https://example.com"},
            },
        }
    )

    assert validate_message(message) == [
        "interactive.action.parameters.display_text is 21 characters; the maximum is 20"
    ]


def test_a_read_receipt_needs_the_message_id() -> None:
    message = {"messaging_product": "whatsapp", "status": "read"}

    assert validate_message(message) == ["message_id is required"]


def test_a_read_receipt_with_the_typing_indicator_is_valid() -> None:
    message = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.HBgLMTU1NTAxMjM0NTYVAgASGBQ1QzZBMjBEQUVGMTBBOTg3QjREMQA=",
        "typing_indicator": {"type": "text"},
    }

    assert validate_message(message) == []


def test_a_typing_indicator_of_another_type_is_rejected() -> None:
    message = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.A",
        "typing_indicator": {"type": "audio"},
    }

    assert validate_message(message) == ["typing_indicator.type must be 'text'"]
