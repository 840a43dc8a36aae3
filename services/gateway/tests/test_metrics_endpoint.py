"""The gateway's /metrics over real NATS: its REST requests by route pattern and status, and its
webhook consumer's lag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import aiohttp
import nats
import pytest

from threadline.gateway.bootstrap import bootstrap
from threadline.gateway.config import GatewayConfig
from threadline.messaging.topology import GATEWAY_WEBHOOKS, Topology, ensure_streams
from threadline.testing import eventually

NOBODY = "127.0.0.1:1"  # nothing listens on port 1


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


async def test_requests_are_counted_by_route_and_the_webhook_consumer_shows_its_lag(
    stack: AsyncExitStack, nats_server_url: str, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    client = await nats.connect(nats_server_url)
    stack.push_async_callback(client.drain)
    await ensure_streams(client.jetstream(), topology)
    for config in topology.stream_configs():
        stack.push_async_callback(client.jetstream().delete_stream, config.name or "")
    gateway = await bootstrap(
        GatewayConfig(
            port=0,
            ops_port=0,
            analytics_grpc_address=NOBODY,
            session_grpc_address=NOBODY,
            nats_url=nats_server_url,
            nats_namespace=nats_namespace,
        ),
        stack,
    )
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{gateway.port}/api/v1/conversations/c-{nats_namespace}"
        async with http.get(url) as response:
            assert response.status == 401

        text = ""

        async def consumer_shown() -> bool:
            nonlocal text
            async with http.get(f"http://127.0.0.1:{gateway.ops_port}/metrics") as response:
                text = await response.text()
            return f'consumer="{GATEWAY_WEBHOOKS.name}"' in text

        await eventually(consumer_shown, timeout=20)

    assert (
        'threadline_gateway_http_requests_total{code="401",method="GET",'
        'route="/api/v1/conversations/{id}"}'
    ) in text
    assert f"c-{nats_namespace}" not in text  # the pattern, never the path
    stream = topology.stream(GATEWAY_WEBHOOKS.stream)
    assert (
        f'threadline_consumer_pending_messages{{consumer="{GATEWAY_WEBHOOKS.name}",'
        f'stream="{stream}"}}'
    ) in text
