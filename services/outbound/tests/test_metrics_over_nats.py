"""The outbound service's /metrics over real NATS and a local Cloud API stand-in: a Graph API
error by its WhatsApp code, the end-to-end send time, and its consumers' lag."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import aiohttp
import nats
import pytest
from nats.js import JetStreamContext

from threadline.contracts.events.v1 import common_pb2, session_pb2
from threadline.messaging.topology import (
    SESSION_EVENT,
    Topology,
    durables_of,
    ensure_streams,
)
from threadline.outbound.bootstrap import bootstrap
from threadline.outbound.config import OutboundConfig
from threadline.testing import eventually

if TYPE_CHECKING:
    from conftest import CloudApiStub

NUMBER = "106540352242922"


def value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        if dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or "")) == labels:
            return float(match.group(3))
    return 0.0


@pytest.fixture
async def js(nats_server_url: str, nats_namespace: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server_url)
    js = nc.jetstream()
    topology = Topology(nats_namespace)
    await ensure_streams(js, topology)
    yield js
    for stream in topology.stream_configs():
        await js.delete_stream(stream.name or "")
    await nc.close()


def queued(age: timedelta) -> session_pb2.SessionEvent:
    event = session_pb2.SessionEvent(
        event_id=str(uuid.uuid4()),
        aggregate_type="Conversation",
        aggregate_id=f"conversation-{uuid.uuid4()}",
        outbound_message_queued=session_pb2.OutboundMessageQueued(
            message_id=f"message-{uuid.uuid4()}",
            author="ai",
            content=common_pb2.MessageContent(type="text", text="Hi!"),
            phone_number_id=NUMBER,
            recipient=common_pb2.CustomerIdentity(wa_id=f"1650555{uuid.uuid4().int % 10**4:04}"),
        ),
    )
    event.occurred_at.FromDatetime(datetime.now(UTC) - age)
    return event


async def test_a_graph_error_code_and_the_send_time_show_on_metrics(
    js: JetStreamContext, nats_namespace: str, nats_server_url: str, cloud_api: CloudApiStub
) -> None:
    topology = Topology(nats_namespace)
    config = OutboundConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        graph_api_base_url=cloud_api.url,
        graph_api_version="v23.0",
        access_token="EAAG-metrics",
        ops_port=0,
        concurrency=4,
    )
    async with AsyncExitStack() as stack, aiohttp.ClientSession() as http:
        running = await bootstrap(config, stack, max_deliver=2, backoff=(0.05,))

        async def scrape() -> str:
            async with http.get(f"http://127.0.0.1:{running.ops.port}/metrics") as response:
                return await response.text()

        before = await scrape()
        cloud_api.fail_next(400, 131047, "(#131047) Re-engagement message", "24 hours")
        subject = topology.publish_subject(
            SESSION_EVENT, aggregate="Conversation", event="OutboundMessageQueued"
        )
        refused, sent = queued(timedelta(seconds=1)), queued(timedelta(seconds=3))
        for event in (refused, sent):
            await js.publish(
                subject, event.SerializeToString(), headers={"Nats-Msg-Id": event.event_id}
            )
            await eventually(lambda: len(cloud_api.requests) >= 1)

        after = ""
        # Consumers' lag is read from JetStream before a scrape, at most once a second (a
        # scrape in between is answered with the last read): wait for a read that has them.
        lags = [
            f'consumer="{durable.name}",stream="{topology.stream(durable.stream)}"'
            for durable in durables_of("outbound")
        ]

        async def counted() -> bool:
            nonlocal after
            after = await scrape()
            return all(lag in after for lag in lags) and value(
                after, "threadline_outbound_send_seconds_count"
            ) > value(before, "threadline_outbound_send_seconds_count")

        await eventually(counted, timeout=20)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("threadline_graph_api_errors_total", request="send", code="131047") == 1
    assert grew("threadline_outbound_send_seconds_count") == 1
    assert grew("threadline_outbound_send_seconds_sum") >= 3
    assert all(lag in after for lag in lags)
