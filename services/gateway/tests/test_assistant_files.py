"""An assistant file as the REST API reads it (`assistant_files`): a tool URL still naming an
environment variable is refused, naming the tool, instead of being called with the placeholder
or filled from the gateway's own environment (which holds the platform's secrets)."""

from __future__ import annotations

import json

import pytest

from threadline.gateway.adapters.inbound.http.assistant_files import assistant_request
from threadline.gateway.adapters.inbound.http.errors import BadRequest

TOOL = {"name": "book", "description": "Book", "method": "POST"}


def test_a_tool_url_naming_a_variable_is_refused_naming_the_tool() -> None:
    given = {
        "name": "salon",
        "http_tools": [
            {**TOOL, "url": "https://booking.example/api"},
            {**TOOL, "name": "cancel", "url": "${BOOKING_URL}/cancel"},
        ],
    }
    with pytest.raises(BadRequest, match=r"http_tools\[1\]\.url names \$\{BOOKING_URL\}"):
        assistant_request(given)


def test_a_tool_url_without_variables_is_taken_as_given() -> None:
    given = {"name": "salon", "http_tools": [{**TOOL, "url": "https://booking.example/{day}"}]}
    request = assistant_request(given)
    assert json.loads(request.assistant.http_tools_json)[0]["url"] == (
        "https://booking.example/{day}"
    )
