"""The session's /metrics over real NATS and PostgreSQL: its consumers' lag, the relay's lag
and its gRPC calls, in the text format and in OpenMetrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from uuid import uuid4

import aiohttp
import grpc
import nats
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from threadline.contracts.events.v1 import common_pb2, ingest_pb2
from threadline.messaging.topology import (
    INBOUND_MESSAGE_RECEIVED,
    SESSION_EVENTS,
    Topology,
    durables_of,
)
from threadline.session.bootstrap import RunningSession, bootstrap
from threadline.session.config import SessionConfig
from threadline.testing import eventually
from threadline.testing.clock import FakeClock

ConfigFactory = Callable[..., SessionConfig]


@pytest.fixture
async def service(
    session_config: ConfigFactory, service_clock: FakeClock
) -> AsyncIterator[RunningSession]:
    async with AsyncExitStack() as stack:
        yield await bootstrap(session_config(), stack, clock=service_clock)


async def scrape(port: int, accept: str = "") -> str:
    headers = {"Accept": accept} if accept else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as response,
    ):
        assert response.status == 200
        return await response.text()


def fact_count(text: str) -> float:
    prefix = 'threadline_session_facts_total{outcome="applied"} '
    found = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(found[0].removeprefix(prefix)) if found else 0.0


async def test_the_session_shows_its_consumers_its_relay_and_its_grpc_calls(
    service: RunningSession, nats_namespace: str, nats_server_url: str
) -> None:
    topology = Topology(nats_namespace)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())

    text = ""

    async def every_consumer_shown() -> bool:
        nonlocal text
        text = await scrape(service.ops_port)
        consumers = all(f'consumer="{d.name}"' in text for d in durables_of("session"))
        return consumers and "threadline_relay_pending_events{" in text  # once it resumed

    await eventually(every_consumer_shown, timeout=20)
    stream = topology.stream(SESSION_EVENTS)
    assert f'threadline_relay_pending_events{{stream="{stream}"}}' in text
    assert f'threadline_relay_seconds_behind{{stream="{stream}"}}' in text
    assert (
        'threadline_grpc_server_handled_total{code="OK",method="Check",'
        'service="grpc.health.v1.Health"}'
    ) in text
    dead = topology.stream("DEAD_LETTERS")
    assert f'threadline_dead_letter_stream_messages{{stream="{dead}"}} 0.0' in text

    # A fact through the session's consumer: counted by outcome.
    before = fact_count(text)
    fact = ingest_pb2.InboundMessageReceived(
        wamid=f"wamid.{uuid4().hex}",
        phone_number_id="pn-metrics",
        customer=common_pb2.CustomerIdentity(wa_id="15557200001", profile_name="Ana"),
        content=common_pb2.MessageContent(type="text", text="hello"),
    )
    fact.sent_at.FromDatetime(datetime.now(UTC))
    fact.received_at.FromDatetime(datetime.now(UTC))
    nc = await nats.connect(nats_server_url)
    try:
        await nc.jetstream().publish(
            topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id="pn-metrics"),
            fact.SerializeToString(),
            headers={"Nats-Msg-Id": fact.wamid},
        )
    finally:
        await nc.close()

    async def fact_counted() -> bool:
        return fact_count(await scrape(service.ops_port)) == before + 1

    await eventually(fact_counted, timeout=20)

    openmetrics = await scrape(service.ops_port, "application/openmetrics-text")
    assert openmetrics.rstrip().endswith("# EOF")
    assert "threadline_consumer_pending_messages{" in openmetrics
