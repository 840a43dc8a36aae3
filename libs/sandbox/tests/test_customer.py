from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp

from threadline.sandbox.customer import build_inbound_text, send_inbound
from threadline.sandbox.receiver import WebhookReceiver
from threadline.sandbox.server import Sandbox
from threadline.testing.samples import webhook_sample

if TYPE_CHECKING:
    from conftest import ConfigFactory


def shape(value: Any) -> Any:
    """The keys of `value`, all the way down; lists by their first item."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def inbound(wa_id: str, **options: Any) -> dict[str, Any]:
    built: Any = build_inbound_text("1122334455667", "972123456789", wa_id, "Dana", "Hi", **options)
    return dict(built)


def test_inbound_text_has_the_shape_of_metas_text_sample() -> None:
    sample = webhook_sample("messages", "text")
    sample["entry"][0]["changes"][0]["value"]["contacts"][0].pop("parent_user_id")

    built = inbound("972987654321", user_id="US.13491208655302741918")

    assert shape(built) == shape(sample)


def test_inbound_text_carries_the_customer_and_the_business_number() -> None:
    value = inbound("15551230000", wamid="wamid.given", timestamp=1697043223)["entry"][0][
        "changes"
    ][0]["value"]

    assert value["metadata"] == {
        "display_phone_number": "972123456789",
        "phone_number_id": "1122334455667",
    }
    assert value["contacts"] == [{"profile": {"name": "Dana"}, "wa_id": "15551230000"}]
    assert value["messages"] == [
        {
            "from": "15551230000",
            "id": "wamid.given",
            "timestamp": "1697043223",
            "text": {"body": "Hi"},
            "type": "text",
        }
    ]


async def test_send_inbound_delivers_a_signed_webhook_and_returns_its_wamid(
    receiver: WebhookReceiver, http: aiohttp.ClientSession, app_secret: str, wa_id: str
) -> None:
    status, wamid = await send_inbound(
        http,
        receiver.url,
        app_secret,
        phone_number_id="1122334455667",
        display_phone_number="15550000000",
        wa_id=wa_id,
        profile_name="Dana",
        text="Is the terrace open?",
    )

    received: Any = (await receiver.wait_for(1))[0]
    assert (status, received.verified) == (200, True)
    assert received.json()["entry"][0]["changes"][0]["value"]["messages"][0]["id"] == wamid


async def test_customer_endpoint_sends_the_text_and_reports_the_webhook_status(
    sandbox: Sandbox,
    receiver: WebhookReceiver,
    http: aiohttp.ClientSession,
    phone_number_id: str,
    wa_id: str,
) -> None:
    url = f"{sandbox.url}/sandbox/customers/{wa_id}/messages"
    request = {"phone_number_id": phone_number_id, "text": "Table for 2?", "profile_name": "Ana"}

    async with http.post(url, json=request) as response:
        reply = await response.json()

    async with asyncio.timeout(5):
        received: Any = (await receiver.wait_for(1))[0]
    value = received.json()["entry"][0]["changes"][0]["value"]
    assert (response.status, reply["webhook_status"]) == (200, 200)
    assert value["messages"][0]["id"] == reply["wamid"]
    assert (value["messages"][0]["text"]["body"], value["contacts"][0]["wa_id"]) == (
        "Table for 2?",
        wa_id,
    )


async def test_customer_endpoint_reports_an_unreachable_webhook_as_502(
    http: aiohttp.ClientSession,
    make_config: ConfigFactory,
    app_secret: str,
    phone_number_id: str,
    wa_id: str,
) -> None:
    async with WebhookReceiver(app_secret) as gone:
        dead_url = gone.url
    async with Sandbox(make_config(dead_url)) as sandbox:
        url = f"{sandbox.url}/sandbox/customers/{wa_id}/messages"
        async with http.post(url, json={"phone_number_id": phone_number_id, "text": "Hi"}) as r:
            reply = await r.json()

    assert (r.status, reply["webhook_status"]) == (502, None)


async def test_customer_endpoint_rejects_a_request_without_text(
    sandbox: Sandbox, http: aiohttp.ClientSession, phone_number_id: str, wa_id: str
) -> None:
    url = f"{sandbox.url}/sandbox/customers/{wa_id}/messages"

    async with http.post(url, json={"phone_number_id": phone_number_id}) as response:
        reply = await response.json()

    assert response.status == 400
    assert "text is required" in reply["error"]["error_data"]["details"]
