"""Every send-message request of the project's samples (one of every kind the Cloud API
documents: text, media by id and link, location, contacts, reactions, every interactive kind,
templates, read receipts) is accepted."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from threadline.testing.samples import send_requests

if TYPE_CHECKING:
    from conftest import GraphClient

REQUESTS = send_requests()


@pytest.mark.parametrize("name", sorted(REQUESTS))
async def test_send_request_sample_is_accepted(
    graph: GraphClient, phone_number_id: str, name: str
) -> None:
    status, reply = await graph.send(phone_number_id, REQUESTS[name])

    assert status == 200, reply
    assert reply.get("success") is True or reply["messages"][0]["id"].startswith("wamid.")
