"""Fixtures the burst tests share: a JetStream context on the test NATS server, and the bursts'
KeyValue store under the test's namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext

from threadline.ai_responder.adapters.outbound.burst_store import KeyValueBurstStore


@pytest.fixture
async def js(nats_server_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server_url)
    yield nc.jetstream()
    await nc.close()


@pytest.fixture
async def store(js: JetStreamContext, nats_namespace: str) -> KeyValueBurstStore:
    return await KeyValueBurstStore.open(js, namespace=nats_namespace)
