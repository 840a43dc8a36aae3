"""What a person reads for each message type, and the type's object kept whole."""

from __future__ import annotations

import json
from typing import Any

import pytest

from threadline.ingest.domain.message_content import message_content, readable_text


@pytest.mark.parametrize(
    ("kind", "body", "text"),
    [
        ("text", {"body": "Hello"}, "Hello"),
        ("image", {"id": "1", "caption": "Taj Mahal"}, "Taj Mahal"),
        ("image", {"id": "1"}, ""),
        ("video", {"id": "1", "caption": "clip"}, "clip"),
        ("document", {"id": "1", "filename": "invoice.pdf"}, "invoice.pdf"),
        ("document", {"id": "1", "filename": "a.pdf", "caption": "the invoice"}, "the invoice"),
        ("button", {"payload": "STOP", "text": "Unsubscribe"}, "Unsubscribe"),
        (
            "interactive",
            {"type": "button_reply", "button_reply": {"id": "c", "title": "Cancel"}},
            "Cancel",
        ),
        (
            "interactive",
            {"type": "list_reply", "list_reply": {"id": "p", "title": "Express"}},
            "Express",
        ),
        (
            "interactive",
            {"type": "nfm_reply", "nfm_reply": {"body": "Sent", "response_json": "{}"}},
            "Sent",
        ),
        (
            "location",
            {"latitude": 37.44221496582, "longitude": -122.16165924072},
            "37.44221496582,-122.16165924072",
        ),
        ("reaction", {"message_id": "wamid.X", "emoji": "👍"}, "👍"),
        ("reaction", {"message_id": "wamid.X"}, ""),
        (
            "contacts",
            [{"name": {"formatted_name": "Lucía Gómez"}}, {"name": {"formatted_name": "Bo"}}],
            "Lucía Gómez, Bo",
        ),
        ("order", {"text": "for tonight", "product_items": []}, "for tonight"),
        (
            "order",
            {"text": "", "product_items": [{"product_retailer_id": "SODA", "quantity": 2}]},
            "Order: 2 x SODA",
        ),
        (
            "system",
            {"body": "User changed number", "type": "user_changed_number"},
            "User changed number",
        ),
        (
            "edit",
            {
                "original_message_id": "wamid.O",
                "message": {"type": "text", "text": {"body": "fixed"}},
            },
            "fixed",
        ),
        ("unsupported", {"type": "pool"}, ""),
        ("a_type_from_the_future", {"body": "?"}, ""),
        ("text", "not an object", ""),
    ],
)
def test_readable_text_of_each_type(kind: str, body: Any, text: str) -> None:
    assert readable_text(kind, body) == text


def test_content_keeps_the_type_object_as_json() -> None:
    message = {"type": "location", "location": {"latitude": 1.5, "longitude": 2, "name": "Café"}}

    content = message_content("location", message).content

    assert content.type == "location"
    assert json.loads(content.payload_json) == {"latitude": 1.5, "longitude": 2, "name": "Café"}
    assert "Café" in content.payload_json


def test_content_of_a_message_without_its_object_is_an_empty_json_object() -> None:
    content = message_content("interactive", {"type": "interactive"}).content

    assert (content.text, content.payload_json) == ("", "{}")
