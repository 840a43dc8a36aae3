"""Every webhook sample of the project, signed and delivered, is accepted (never a 5xx)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest

from threadline.ingest.adapters.inbound.signature import SIGNATURE_HEADER, sign
from threadline.ingest.bootstrap import RunningIngest, bootstrap
from threadline.ingest.config import IngestConfig
from threadline.testing import unique_id

SECRET = "app-secret-for-samples"


@pytest.fixture
async def ingest(nats_server_url: str) -> AsyncIterator[RunningIngest]:
    config = IngestConfig(
        app_secret=SECRET,
        verify_token="unused",
        nats_url=nats_server_url,
        nats_namespace=unique_id("t"),
        port=0,
        ops_port=0,
    )
    async with AsyncExitStack() as stack:
        yield await bootstrap(config, stack)


async def test_sample_webhook_is_accepted(
    ingest: RunningIngest, webhook_sample: tuple[str, dict[str, Any]]
) -> None:
    _, payload = webhook_sample
    body = json.dumps(payload).encode()
    headers = {SIGNATURE_HEADER: sign(body, SECRET), "Content-Type": "application/json"}

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{ingest.port}/webhooks/whatsapp", data=body, headers=headers
        ) as r,
    ):
        status, reply = r.status, await r.json()

    assert (status, reply["status"]) == (200, "accepted")
