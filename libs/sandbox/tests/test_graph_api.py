from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import GraphClient


def text_message(to: str, body: str = "Your table is booked.") -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": body}}


def buttons(count: int, *, title_length: int = 5) -> dict[str, Any]:
    return {
        "type": "button",
        "body": {"text": "Choose"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": f"b{i}", "title": str(i) * title_length}}
                for i in range(count)
            ]
        },
    }


def eleven_rows() -> dict[str, Any]:
    sections = [
        {"title": f"S{s}", "rows": [{"id": f"{s}-{r}", "title": "Row"} for r in range(n)]}
        for s, n in enumerate((6, 5))
    ]
    return {
        "type": "list",
        "body": {"text": "Choose"},
        "action": {"button": "Menu", "sections": sections},
    }


def as_interactive(interactive: dict[str, Any]) -> Callable[[str], dict[str, Any]]:
    return lambda to: {
        "messaging_product": "whatsapp",
        "to": to,
        "type": "interactive",
        "interactive": interactive,
    }


MALFORMED: list[Any] = [
    pytest.param(
        lambda to: {"messaging_product": "whatsapp", "type": "text", "text": {"body": "hi"}},
        "to is required",
        id="missing-to",
    ),
    pytest.param(
        lambda to: text_message(to, "x" * 4097),
        "text.body is 4097 characters; the maximum is 4096",
        id="text-over-4096",
    ),
    pytest.param(
        as_interactive(buttons(4)),
        "interactive.action.buttons has 4 buttons; the maximum is 3",
        id="four-buttons",
    ),
    pytest.param(
        as_interactive(buttons(1, title_length=21)),
        "interactive.action.buttons[0].reply.title is 21 characters; the maximum is 20",
        id="button-title-21",
    ),
    pytest.param(
        as_interactive(eleven_rows()),
        "interactive.action.sections has 11 rows in all; the maximum is 10",
        id="eleven-list-rows",
    ),
    pytest.param(
        lambda to: {**text_message(to), "context": "wamid.1"},
        "context must be an object",
        id="context-not-an-object",
    ),
    pytest.param(
        lambda to: {**text_message(to), "context": {"message_id": ""}},
        "context.message_id must not be empty",
        id="context-without-message-id",
    ),
]


async def test_valid_text_send_is_answered_in_the_cloud_api_shape(
    graph: GraphClient, phone_number_id: str, wa_id: str
) -> None:
    status, reply = await graph.send(phone_number_id, text_message(wa_id))

    assert status == 200
    assert reply["messaging_product"] == "whatsapp"
    assert reply["contacts"] == [{"input": wa_id, "wa_id": wa_id}]
    assert [list(m) for m in reply["messages"]] == [["id"]]
    assert reply["messages"][0]["id"].startswith("wamid.")


async def test_each_accepted_message_gets_a_new_wamid(
    graph: GraphClient, phone_number_id: str, wa_id: str
) -> None:
    _, first = await graph.send(phone_number_id, text_message(wa_id))
    _, second = await graph.send(phone_number_id, text_message(wa_id))

    assert first["messages"][0]["id"] != second["messages"][0]["id"]


@pytest.mark.parametrize(("build", "problem"), MALFORMED)
async def test_malformed_send_is_rejected_with_a_graph_error_naming_the_problem(
    graph: GraphClient,
    phone_number_id: str,
    wa_id: str,
    build: Callable[[str], dict[str, Any]],
    problem: str,
) -> None:
    status, reply = await graph.send(phone_number_id, build(wa_id))

    assert status == 400
    assert problem in reply["error"]["error_data"]["details"]


async def test_invalid_parameter_error_has_the_graph_error_shape(
    graph: GraphClient, phone_number_id: str
) -> None:
    status, reply = await graph.send(phone_number_id, {"messaging_product": "whatsapp"})

    error = reply["error"]
    assert status == 400
    assert error["message"] == "(#100) Invalid parameter"
    assert (error["type"], error["code"], error["error_subcode"]) == (
        "OAuthException",
        100,
        2494010,
    )
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert isinstance(error["fbtrace_id"], str) and error["fbtrace_id"]


async def test_a_body_that_is_not_json_is_rejected_as_invalid_parameter(
    graph: GraphClient, phone_number_id: str
) -> None:
    status, reply = await graph.send(phone_number_id, "{not json")

    assert (status, reply["error"]["code"]) == (400, 100)


async def test_wrong_access_token_is_refused_with_code_190(
    graph: GraphClient, phone_number_id: str, wa_id: str
) -> None:
    status, reply = await graph.send(phone_number_id, text_message(wa_id), token="stolen")

    assert status == 401
    assert (reply["error"]["code"], reply["error"]["type"]) == (190, "OAuthException")


async def test_missing_access_token_is_refused_with_code_190(
    graph: GraphClient, phone_number_id: str, wa_id: str
) -> None:
    status, reply = await graph.send(phone_number_id, text_message(wa_id), token=None)

    assert (status, reply["error"]["code"]) == (401, 190)


async def test_rejected_sends_are_not_recorded(
    graph: GraphClient, phone_number_id: str, wa_id: str
) -> None:
    await graph.send(phone_number_id, text_message(wa_id), token="stolen")

    assert graph.sandbox.outbox.messages(phone_number_id=phone_number_id) == []


async def test_accepted_messages_are_listed_by_phone_number_and_recipient(
    graph: GraphClient, phone_number_id: str, wa_id: str
) -> None:
    _, reply = await graph.send(phone_number_id, text_message(wa_id, "First"))
    await graph.send(phone_number_id, text_message("15550009999", "To someone else"))
    url = f"{graph.sandbox.url}/sandbox/messages"

    params = {"phone_number_id": phone_number_id, "to": wa_id}
    async with graph.http.get(url, params=params) as response:
        listed = await response.json()

    assert [m["wamid"] for m in listed] == [reply["messages"][0]["id"]]
    assert listed[0]["request"]["text"]["body"] == "First"
    assert listed[0]["accepted_at"].endswith("Z")


async def test_a_reply_keeps_the_message_it_quotes(
    graph: GraphClient, phone_number_id: str, wa_id: str
) -> None:
    quoting = {**text_message(wa_id, "Yes, two left"), "context": {"message_id": "wamid.asked"}}
    await graph.send(phone_number_id, quoting)
    await graph.send(phone_number_id, text_message(wa_id, "Anything else?"))

    async with graph.http.get(
        f"{graph.sandbox.url}/sandbox/messages", params={"to": wa_id}
    ) as response:
        listed = await response.json()

    assert [(m["quotes"], m["request"].get("context")) for m in listed] == [
        ("wamid.asked", {"message_id": "wamid.asked"}),
        ("", None),
    ]
    assert graph.sandbox.outbox.messages(to=wa_id)[0].quoted_wamid == "wamid.asked"


async def test_a_read_receipt_is_answered_with_success(
    graph: GraphClient, phone_number_id: str
) -> None:
    receipt = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.abc"}

    status, reply = await graph.send(phone_number_id, receipt)

    assert (status, reply) == (200, {"success": True})


async def test_health_endpoint_answers_ok(graph: GraphClient) -> None:
    async with graph.http.get(f"{graph.sandbox.url}/healthz") as response:
        assert (response.status, await response.json()) == (200, {"status": "ok"})
