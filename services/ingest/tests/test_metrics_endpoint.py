"""Ingest's /metrics over real NATS: a webhook ingest dead-letters shows in the dead-letter
counter and in what waits in DEAD_LETTERS, beside the webhook counters (its own registry)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import aiohttp
import pytest

from threadline.ingest.adapters.inbound.signature import SIGNATURE_HEADER, sign
from threadline.ingest.bootstrap import RunningIngest, bootstrap
from threadline.ingest.config import IngestConfig
from threadline.messaging.topology import DEAD_LETTERS, Topology
from threadline.testing import eventually

SECRET = "app-secret-for-metrics"


@pytest.fixture
async def ingest(nats_server_url: str, nats_namespace: str) -> AsyncIterator[RunningIngest]:
    config = IngestConfig(
        app_secret=SECRET,
        verify_token="unused",
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        port=0,
        ops_port=0,
    )
    async with AsyncExitStack() as stack:
        yield await bootstrap(config, stack)


def value(text: str, line_start: str) -> float:
    found = [line for line in text.splitlines() if line.startswith(line_start + " ")]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


async def test_a_dead_letter_shows_in_the_counter_and_the_depth(
    ingest: RunningIngest, nats_namespace: str
) -> None:
    body = b'{"entry": "this is not a list"}'
    counter = 'threadline_dead_letters_total{service="ingest",slug="unparseable"}'
    depth = 'threadline_dead_letter_messages{service="ingest",slug="unparseable"}'
    stream = Topology(nats_namespace).stream(DEAD_LETTERS)
    async with aiohttp.ClientSession() as http:

        async def scrape(accept: str = "") -> str:
            url = f"http://127.0.0.1:{ingest.ops_port}/metrics"
            async with http.get(url, headers={"Accept": accept} if accept else {}) as response:
                return await response.text()

        before = await scrape()
        headers = {SIGNATURE_HEADER: sign(body, SECRET), "Content-Type": "application/json"}
        url = f"http://127.0.0.1:{ingest.port}/webhooks/whatsapp"
        async with http.post(url, data=body, headers=headers) as response:
            assert response.status == 200

        after = ""

        async def shown() -> bool:
            nonlocal after
            after = await scrape()
            return value(after, depth) == 1

        await eventually(shown, timeout=10)
        openmetrics = await scrape("application/openmetrics-text")

    assert value(after, counter) == value(before, counter) + 1
    assert value(after, f'threadline_dead_letter_stream_messages{{stream="{stream}"}}') == 1
    assert 'threadline_ingest_webhooks_total{outcome="' in after
    assert openmetrics.rstrip().endswith("# EOF")
