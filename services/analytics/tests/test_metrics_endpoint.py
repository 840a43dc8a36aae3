"""Analytics' /metrics over real NATS and PostgreSQL: its projection consumer's lag and its
gRPC calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from threadline.messaging.topology import ANALYTICS_PROJECTIONS, Topology
from threadline.testing import eventually

if TYPE_CHECKING:
    from conftest import RunningAnalytics


async def test_the_projection_consumer_and_grpc_calls_show(
    analytics: RunningAnalytics, nats_namespace: str
) -> None:
    service = analytics.service
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    stream = Topology(nats_namespace).stream(ANALYTICS_PROJECTIONS.stream)
    wanted = (
        f'threadline_consumer_pending_messages{{consumer="{ANALYTICS_PROJECTIONS.name}",'
        f'stream="{stream}"}}'
    )
    text = ""

    async def shown() -> bool:
        nonlocal text
        url = f"http://127.0.0.1:{service.ops_port}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            text = await response.text()
        return wanted in text

    await eventually(shown, timeout=20)
    assert (
        'threadline_grpc_server_handled_total{code="OK",method="Check",'
        'service="grpc.health.v1.Health"}'
    ) in text
