"""The whole service through its real bootstrap, with a bus of the test's own: no NATS."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from threadline.ingest.adapters.inbound.signature import SIGNATURE_HEADER, sign
from threadline.ingest.bootstrap import RunningIngest, bootstrap
from threadline.ingest.config import IngestConfig
from threadline.messaging.bus import InMemoryBus

SECRET = "bootstrap-secret"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TextWebhook = Callable[..., dict[str, Any]]
CONFIG = IngestConfig(
    app_secret=SECRET, verify_token="unused", nats_namespace="t1", port=0, ops_port=0
)


@pytest.fixture
def bus() -> InMemoryBus:
    return InMemoryBus(max_payload=8192)


@pytest.fixture
async def ingest(bus: InMemoryBus) -> AsyncIterator[RunningIngest]:
    async with AsyncExitStack() as stack:
        yield await bootstrap(CONFIG, stack, bus=bus, clock=lambda: NOW)


async def post(service: RunningIngest, body: bytes) -> int:
    url = f"http://127.0.0.1:{service.port}/webhooks/whatsapp"
    headers = {SIGNATURE_HEADER: sign(body, SECRET), "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status


async def test_a_webhook_is_kept_on_the_bus_given_and_needs_no_nats(
    ingest: RunningIngest, bus: InMemoryBus, text_webhook: TextWebhook
) -> None:
    body = json.dumps(text_webhook(wamid="wamid.BOOT", phone_number_id="555")).encode()

    assert await post(ingest, body) == 200

    assert ingest.nats is None and ingest.bus is bus
    assert [p.subject for p in bus.published] == [
        "t1.ingest.raw.555",
        "t1.ingest.events.0.555.InboundMessageReceived",
    ]
    assert bus.published[0].headers["Threadline-Received-At"] == NOW.isoformat()


async def test_bodies_the_bus_could_not_carry_are_refused_with_413(
    ingest: RunningIngest, bus: InMemoryBus
) -> None:
    body = json.dumps({"entry": [], "padding": "x" * 5000}).encode()

    assert await post(ingest, body) == 413
    assert bus.published == []


async def test_ready_without_nats_to_check(ingest: RunningIngest) -> None:
    url = f"http://127.0.0.1:{ingest.ops_port}/readyz"

    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert (response.status, await response.json()) == (200, {"ready": True, "problems": {}})
