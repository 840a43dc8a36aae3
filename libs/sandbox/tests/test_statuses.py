from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp

from threadline.sandbox.receiver import ReceivedWebhook, WebhookReceiver
from threadline.sandbox.server import Sandbox

if TYPE_CHECKING:
    from conftest import ConfigFactory, GraphClient


def text_message(to: str) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "Hi"}}


def status_of(webhook: ReceivedWebhook) -> dict[str, Any]:
    body: Any = webhook.json()
    statuses: list[dict[str, Any]] = body["entry"][0]["changes"][0]["value"]["statuses"]
    return statuses[0]


async def send_and_wait(
    graph: GraphClient, receiver: WebhookReceiver, phone_number_id: str, to: str, count: int
) -> tuple[str, list[ReceivedWebhook]]:
    _, reply = await graph.send(phone_number_id, text_message(to))
    async with asyncio.timeout(5):
        received = await receiver.wait_for(count)
    return reply["messages"][0]["id"], received


async def test_accepted_message_is_followed_by_sent_delivered_read_in_order(
    graph: GraphClient, receiver: WebhookReceiver, phone_number_id: str, wa_id: str
) -> None:
    wamid, received = await send_and_wait(graph, receiver, phone_number_id, wa_id, 3)

    assert [status_of(w)["status"] for w in received] == ["sent", "delivered", "read"]
    assert {status_of(w)["id"] for w in received} == {wamid}


async def test_status_webhooks_carry_valid_signatures(
    graph: GraphClient, receiver: WebhookReceiver, phone_number_id: str, wa_id: str
) -> None:
    _, received = await send_and_wait(graph, receiver, phone_number_id, wa_id, 3)

    assert [(w.verified, (w.signature or "")[:7]) for w in received] == [(True, "sha256=")] * 3


async def test_waiting_for_statuses_returns_once_all_three_are_delivered(
    graph: GraphClient, receiver: WebhookReceiver, phone_number_id: str, wa_id: str
) -> None:
    await graph.send(phone_number_id, text_message(wa_id))

    async with asyncio.timeout(5):
        await graph.sandbox.wait_for_statuses()

    assert len(receiver.received) == 3


async def test_status_webhook_has_the_real_envelope_shape(
    graph: GraphClient, receiver: WebhookReceiver, phone_number_id: str, wa_id: str
) -> None:
    _, received = await send_and_wait(graph, receiver, phone_number_id, wa_id, 1)

    body: Any = received[0].json()
    entry = body["entry"][0]
    change = entry["changes"][0]
    status = change["value"]["statuses"][0]
    assert (body["object"], entry["id"]) == (
        "whatsapp_business_account",
        graph.sandbox.config.waba_id,
    )
    assert (change["field"], change["value"]["messaging_product"]) == ("messages", "whatsapp")
    assert change["value"]["metadata"]["phone_number_id"] == phone_number_id
    assert set(change["value"]["metadata"]) == {"display_phone_number", "phone_number_id"}
    assert status["recipient_id"] == wa_id and status["timestamp"].isdigit()
    assert {"id", "origin"} <= set(status["conversation"])
    assert set(status["pricing"]) == {"billable", "pricing_model", "category", "type"}


async def test_status_webhooks_continue_the_trace_of_the_send(
    graph: GraphClient, receiver: WebhookReceiver, phone_number_id: str, wa_id: str
) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    await graph.send(phone_number_id, text_message(wa_id), headers={"traceparent": traceparent})
    async with asyncio.timeout(5):
        received = await receiver.wait_for(3)

    assert [w.headers.get("traceparent") for w in received] == [traceparent] * 3


async def test_status_webhook_that_is_not_answered_200_is_retried(
    graph: GraphClient, receiver: WebhookReceiver, phone_number_id: str, wa_id: str
) -> None:
    receiver.reply_with(500, 503)

    _, received = await send_and_wait(graph, receiver, phone_number_id, wa_id, 5)

    assert [(status_of(w)["status"], w.answered) for w in received[:3]] == [
        ("sent", 500),
        ("sent", 503),
        ("sent", 200),
    ]


async def test_no_status_webhooks_are_sent_when_statuses_are_disabled(
    http: aiohttp.ClientSession,
    receiver: WebhookReceiver,
    make_config: ConfigFactory,
    phone_number_id: str,
    wa_id: str,
) -> None:
    config = make_config(receiver.url, send_statuses=False)
    async with Sandbox(config) as sandbox:
        url = f"{sandbox.url}/v23.0/{phone_number_id}/messages"
        headers = {"Authorization": f"Bearer {config.access_token}"}
        async with http.post(url, json=text_message(wa_id), headers=headers) as response:
            assert response.status == 200
        # Statuses, had any been started, are delivered once this returns; then a customer's
        # message, delivered before its reply: the receiver must hold that message alone.
        await sandbox.wait_for_statuses()
        customer = f"{sandbox.url}/sandbox/customers/{wa_id}/messages"
        request = {"phone_number_id": phone_number_id, "text": "Are you there?"}
        async with http.post(customer, json=request) as sent:
            assert (await sent.json())["webhook_status"] == 200

    values: list[Any] = [w.json()["entry"][0]["changes"][0]["value"] for w in receiver.received]
    assert [("statuses" in value, "messages" in value) for value in values] == [(False, True)]


async def test_stopping_cancels_status_webhooks_still_pending(
    http: aiohttp.ClientSession,
    receiver: WebhookReceiver,
    make_config: ConfigFactory,
    phone_number_id: str,
    wa_id: str,
) -> None:
    config = make_config(receiver.url, status_delay_ms=60_000)
    sandbox = Sandbox(config)
    await sandbox.start()
    url = f"{sandbox.url}/v23.0/{phone_number_id}/messages"
    headers = {"Authorization": f"Bearer {config.access_token}"}
    async with http.post(url, json=text_message(wa_id), headers=headers) as response:
        assert response.status == 200

    async with asyncio.timeout(2):
        await sandbox.stop()

    assert receiver.received == []
    # Cancelled, not merely left to fail a minute from now on a closed client.
    pending = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("statuses ")]
    assert pending == []
