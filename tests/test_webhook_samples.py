"""Every webhook sample of the project ends as recorded facts or a deliberate, logged ignore."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import grpc
import nats

from tests.conftest import Platform
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.messaging.topology import DEAD_LETTERS, INGEST_EVENTS, SESSION_INGEST, Topology
from threadline.sandbox.signing import sign
from threadline.testing import eventually
from threadline.testing.samples import webhook_samples


def message_wamids(body: dict[str, Any]) -> set[str]:
    return {
        message["id"]
        for entry in body.get("entry", [])
        for change in entry.get("changes", [])
        if change.get("field") == "messages"
        for message in change.get("value", {}).get("messages", [])
    }


async def test_every_sample_is_recorded_or_deliberately_ignored(
    platform: Platform, nats_server_url: str, nats_namespace: str
) -> None:
    expected: set[str] = set()
    async with aiohttp.ClientSession() as http:
        for name, body in webhook_samples():
            raw = json.dumps(body).encode()
            async with http.post(
                platform.webhook_url,
                data=raw,
                headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": sign(raw, platform.app_secret),
                },
            ) as response:
                assert response.status == 200, (name, await response.text())
            expected |= message_wamids(body)

    async def recorded() -> set[str]:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.session_grpc_port}") as channel:
            log = pb_grpc.EventLogStub(channel)
            events = [e async for e in log.ReadAll(pb.ReadAllRequest(), metadata=platform.auth)]
        return {
            e.customer_message_received.wamid
            for e in events
            if e.HasField("customer_message_received")
        } | {
            e.customer_message_changed.wamid
            for e in events
            if e.HasField("customer_message_changed")
        }

    async def all_recorded() -> bool:
        return expected <= await recorded()

    await eventually(all_recorded, timeout=30)
    topology = Topology(nats_namespace)
    nc = await nats.connect(nats_server_url)
    js = nc.jetstream()

    async def session_idle() -> bool:
        info = await js.consumer_info(topology.stream(INGEST_EVENTS), SESSION_INGEST.name)
        return (info.num_pending, info.num_ack_pending) == (0, 0)

    await eventually(session_idle, timeout=30)
    dead = await js.stream_info(topology.stream(DEAD_LETTERS))
    await nc.close()
    assert dead.state.messages == 0
