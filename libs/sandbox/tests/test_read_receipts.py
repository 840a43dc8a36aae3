"""Read receipts with the typing indicator (`status: read` + `typing_indicator`), as Meta's
OpenAPI example sends them: validated, refused for a message the number cannot read, recorded
in order with the messages the customer receives, and listed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from threadline.sandbox.inbox import Inbox
from threadline.sandbox.outbox import AcceptedMessage, Outbox, ReadReceipt

if TYPE_CHECKING:
    from conftest import GraphClient


def receipt(message_id: str, /, *, typing: bool = True, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read"}
    body["message_id"] = message_id
    if typing:
        body["typing_indicator"] = {"type": "text"}
    return {**body, **changes}


async def customer_writes(graph: GraphClient, wa_id: str, phone_number_id: str) -> str:
    """The customer's message, written through the sandbox; its wamid."""
    url = f"{graph.sandbox.url}/sandbox/customers/{wa_id}/messages"
    body = {"phone_number_id": phone_number_id, "text": "Can I book for Tuesday?"}
    async with graph.http.post(url, json=body) as response:
        assert response.status == 200, await response.text()
        wamid: str = (await response.json())["wamid"]
    return wamid


async def business_replies(graph: GraphClient, wa_id: str, phone_number_id: str) -> str:
    text = {"messaging_product": "whatsapp", "to": wa_id, "type": "text"}
    status, reply = await graph.send(phone_number_id, {**text, "text": {"body": "Yes, at 3pm."}})
    assert status == 200, reply
    wamid: str = reply["messages"][0]["id"]
    return wamid


async def test_a_typing_indicator_for_a_customers_message_is_answered_success_and_recorded(
    graph: GraphClient, phone_number_id: str, wa_id: str
) -> None:
    wamid = await customer_writes(graph, wa_id, phone_number_id)

    status, reply = await graph.send(phone_number_id, receipt(wamid))

    assert (status, reply) == (200, {"success": True})
    [taken] = graph.sandbox.outbox.read_receipts(phone_number_id=phone_number_id)
    assert (taken.message_id, taken.to, taken.typing) == (wamid, wa_id, True)


async def test_a_read_receipt_without_the_indicator_is_recorded_without_typing(
    graph: GraphClient, phone_number_id: str, wa_id: str
) -> None:
    wamid = await customer_writes(graph, wa_id, phone_number_id)

    status, _ = await graph.send(phone_number_id, receipt(wamid, typing=False))

    assert status == 200
    [taken] = graph.sandbox.outbox.read_receipts(message_id=wamid)
    assert not taken.typing


async def test_the_customer_sees_typing_before_the_reply(
    graph: GraphClient, phone_number_id: str, wa_id: str
) -> None:
    wamid = await customer_writes(graph, wa_id, phone_number_id)
    await graph.send(phone_number_id, receipt(wamid))
    reply_wamid = await business_replies(graph, wa_id, phone_number_id)

    seen = graph.sandbox.outbox.timeline(to=wa_id)

    assert [type(entry) for entry in seen] == [ReadReceipt, AcceptedMessage]
    assert isinstance(seen[0], ReadReceipt) and seen[0].message_id == wamid
    assert isinstance(seen[1], AcceptedMessage) and seen[1].wamid == reply_wamid


async def test_read_receipts_are_listed_over_http_with_their_place_among_the_messages(
    graph: GraphClient, phone_number_id: str, wa_id: str
) -> None:
    wamid = await customer_writes(graph, wa_id, phone_number_id)
    await graph.send(phone_number_id, receipt(wamid))
    await business_replies(graph, wa_id, phone_number_id)
    params = {"phone_number_id": phone_number_id, "to": wa_id}

    async with graph.http.get(f"{graph.sandbox.url}/sandbox/read_receipts", params=params) as r:
        [listed] = await r.json()
    async with graph.http.get(f"{graph.sandbox.url}/sandbox/messages", params=params) as r:
        [message] = await r.json()

    assert (listed["message_id"], listed["to"], listed["typing"]) == (wamid, wa_id, True)
    assert listed["request"]["typing_indicator"] == {"type": "text"}
    assert listed["received_at"].endswith("Z")
    assert listed["sequence"] < message["sequence"]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"status": "delivered"}, "status must be 'read'"),
        ({"messaging_product": "sms"}, "messaging_product must be 'whatsapp'"),
        ({"typing_indicator": {"type": "audio"}}, "typing_indicator.type must be 'text'"),
        ({"typing_indicator": {}}, "typing_indicator.type must be 'text'"),
        ({"typing_indicator": "text"}, "typing_indicator must be an object"),
        ({"message_id": ""}, "message_id must not be empty"),
    ],
    ids=["status", "product", "indicator-type", "indicator-empty", "indicator-string", "id"],
)
async def test_a_malformed_read_receipt_is_refused_naming_the_problem(
    graph: GraphClient, phone_number_id: str, wa_id: str, changes: dict[str, Any], problem: str
) -> None:
    wamid = await customer_writes(graph, wa_id, phone_number_id)

    status, reply = await graph.send(phone_number_id, receipt(wamid, **changes))

    assert status == 400
    assert reply["error"]["code"] == 100
    assert problem in reply["error"]["error_data"]["details"]
    assert graph.sandbox.outbox.read_receipts(phone_number_id=phone_number_id) == []


async def test_an_id_that_is_no_wamid_gets_metas_error_and_is_not_recorded(
    graph: GraphClient, phone_number_id: str
) -> None:
    status, reply = await graph.send(phone_number_id, receipt("not-a-message"))

    assert status == 400
    error = reply["error"]
    assert (error["message"], error["type"], error["code"]) == (
        "(#100) Invalid parameter",
        "OAuthException",
        100,
    )
    assert "'not-a-message' is not a WhatsApp message id" in error["error_data"]["details"]
    assert error["fbtrace_id"]
    assert graph.sandbox.outbox.read_receipts(phone_number_id=phone_number_id) == []


async def test_the_business_cannot_mark_its_own_message_read(
    graph: GraphClient, phone_number_id: str, wa_id: str
) -> None:
    own = await business_replies(graph, wa_id, phone_number_id)

    status, reply = await graph.send(phone_number_id, receipt(own))

    assert status == 400
    assert "a message the business sent" in reply["error"]["error_data"]["details"]


async def test_another_number_cannot_mark_the_customers_message_read(
    graph: GraphClient, phone_number_id: str, wa_id: str
) -> None:
    wamid = await customer_writes(graph, wa_id, phone_number_id)

    status, reply = await graph.send("109000000000999", receipt(wamid))

    assert status == 400
    assert "was not sent to phone number 109000000000999" in reply["error"]["error_data"]["details"]


async def test_a_wamid_written_around_the_sandbox_is_taken_without_a_customer(
    graph: GraphClient, phone_number_id: str
) -> None:
    # Webhooks posted straight to the platform (as tests and chaos do) leave no trace here.
    status, _ = await graph.send(phone_number_id, receipt("wamid.HBgLMTU1NTAxMjM0NTYVAgASGA=="))

    assert status == 200
    [taken] = graph.sandbox.outbox.read_receipts(phone_number_id=phone_number_id)
    assert taken.to == ""


def test_the_inbox_keeps_only_its_latest_messages() -> None:
    inbox = Inbox(limit=2)

    for n in range(3):
        inbox.record(f"wamid.{n}", phone_number_id="111", wa_id="1555")

    assert inbox.find("wamid.0") is None
    assert [inbox.find(f"wamid.{n}") is not None for n in (1, 2)] == [True, True]


def test_read_receipts_are_bounded_like_the_messages() -> None:
    outbox = Outbox(limit=2)

    for n in range(3):
        outbox.mark_read("111", f"wamid.{n}", receipt(f"wamid.{n}"))

    assert [r.message_id for r in outbox.read_receipts()] == ["wamid.1", "wamid.2"]


def test_a_dropped_message_is_no_longer_known_as_the_business_s() -> None:
    outbox = Outbox(limit=1)
    first = outbox.accept("111", "1555", {"type": "text", "text": {"body": "one"}})

    second = outbox.accept("111", "1555", {"type": "text", "text": {"body": "two"}})

    assert outbox.sent(first.wamid) is None
    assert outbox.sent(second.wamid) == second
