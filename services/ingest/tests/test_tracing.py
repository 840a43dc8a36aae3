"""Each webhook starts a trace, and the facts it publishes carry it on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from threadline.ingest.adapters.inbound.http_api import PATH, WebhookApi
from threadline.ingest.adapters.inbound.signature import SIGNATURE_HEADER, sign
from threadline.ingest.adapters.outbound.prometheus import IngestMetrics
from threadline.ingest.adapters.outbound.publisher import JetStreamPublisher
from threadline.ingest.application.intake import WebhookIntake
from threadline.messaging.bus import InMemoryBus
from threadline.messaging.topology import Topology

SECRET = "tracing-secret"
TextWebhook = Callable[..., dict[str, Any]]
# Someone else's trace, which a webhook must not join.
FOREIGN_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Traced:
    def __init__(self) -> None:
        self.bus = InMemoryBus()
        self.spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.spans))
        api = WebhookApi(
            WebhookIntake(JetStreamPublisher(self.bus, Topology("t1"))),
            app_secret=SECRET,
            verify_token="unused",
            max_body_bytes=65536,
            metrics=IngestMetrics(CollectorRegistry()),
            tracer=provider.get_tracer("threadline.ingest"),
        )
        self.app = web.Application()
        self.app.add_routes(api.routes())


@pytest.fixture
async def traced() -> AsyncIterator[tuple[Traced, str]]:
    setup = Traced()
    async with TestServer(setup.app, host="127.0.0.1") as server:
        yield setup, str(server.make_url(PATH))


async def test_webhook_span_is_the_root_of_its_facts_trace(
    traced: tuple[Traced, str], text_webhook: TextWebhook
) -> None:
    setup, url = traced
    body = json.dumps(text_webhook()).encode()
    headers = {SIGNATURE_HEADER: sign(body, SECRET), "traceparent": FOREIGN_TRACEPARENT}

    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        assert r.status == 200

    (span,) = setup.spans.get_finished_spans()
    assert span.name == "ingest.webhook"
    assert span.parent is None
    assert (
        span.attributes is not None and span.attributes["threadline.ingest.outcome"] == "accepted"
    )
    trace_id = f"{span.context.trace_id:032x}"
    assert trace_id != FOREIGN_TRACEPARENT.split("-")[1]
    assert [p.headers["traceparent"].split("-")[1] for p in setup.bus.published] == [
        trace_id,
        trace_id,
    ]
