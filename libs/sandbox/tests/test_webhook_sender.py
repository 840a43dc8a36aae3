"""How long the sandbox waits for the platform to answer a webhook, and what it counts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from threadline.sandbox.receiver import WebhookReceiver
from threadline.sandbox.webhooks import WebhookSender

SECRET = "webhook-sender-secret"


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(SECRET) as started:
        yield started


def status_webhook(number: int) -> dict[str, object]:
    return {"object": "whatsapp_business_account", "entry": [{"id": str(number)}]}


def entry_id(webhook: dict[str, object]) -> str:
    entries = webhook["entry"]
    assert isinstance(entries, list)
    return str(entries[0]["id"])


async def test_a_webhook_waiting_for_one_of_the_senders_connections_is_not_timed_out(
    receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Six webhooks through one connection, each answered in 0.2 s, with a 0.5 s timeout: the
    last waits ~1 s for the connection, yet each is sent once. (With aiohttp's `total`
    timeout the last ones timed out in the queue and were sent again.)"""
    receiver.answer_after(0.2)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        sender = WebhookSender(session, receiver.url, SECRET, backoff_s=0.01, timeout_s=0.5)
        with caplog.at_level(logging.WARNING):
            answered = await asyncio.gather(*(sender.deliver(status_webhook(n)) for n in range(6)))

    assert answered == [200] * 6
    assert sorted(entry_id(w.json()) for w in receiver.received) == [str(n) for n in range(6)]
    assert "failed" not in caplog.text


async def test_a_receiver_slower_than_the_timeout_is_timed_out_and_sent_again(
    receiver: WebhookReceiver,
) -> None:
    receiver.answer_after(0.4)
    async with aiohttp.ClientSession() as session:
        sender = WebhookSender(
            session, receiver.url, SECRET, attempts=2, backoff_s=0.01, timeout_s=0.1
        )
        answered = await sender.deliver(status_webhook(1))

    assert answered is None
    assert len(receiver.received) == 2
