"""Messaging spans: PRODUCER on a publish, CONSUMER on handling, low-cardinality names."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from threadline.messaging import tracing
from threadline.messaging.bus import MSG_ID, InMemoryBus
from threadline.messaging.tracing import consuming, destination_template, messaging_attributes

SUBJECT = "ingest.events.109000000000077.InboundMessageReceived"
FOREIGN = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_business_number_leaves_the_template_for_an_attribute() -> None:
    assert destination_template(SUBJECT) == "ingest.events.*.InboundMessageReceived"
    attributes = messaging_attributes(SUBJECT, "process", delivery_attempt=2)
    assert attributes == {
        "messaging.system": "nats",
        "messaging.destination.name": SUBJECT,
        "messaging.destination.template": "ingest.events.*.InboundMessageReceived",
        "messaging.operation": "process",
        "messaging.operation.type": "process",
        "threadline.business_number": "109000000000077",
        "messaging.delivery_attempt": 2,
    }
    assert "threadline.business_number" not in messaging_attributes("session.events.A.B", "x")


async def test_a_publish_is_a_producer_span_child_of_the_carried_trace_and_the_message_its_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer = provider.get_tracer("tests")  # its own provider: nothing global
    monkeypatch.setattr(tracing, "_tracer", tracer)
    bus = InMemoryBus()

    await bus.publish(SUBJECT, b"x", msg_id="m1", headers={"traceparent": FOREIGN})
    published = bus.published[0].headers
    with consuming("ingest.test", SUBJECT, published, tracer=tracer):
        pass
    # Outside any trace a message stays outside: no span, no header.
    await bus.publish(SUBJECT, b"y", msg_id="m2")

    producer, consumer = spans.get_finished_spans()
    assert producer.kind is SpanKind.PRODUCER
    assert producer.name == "publish ingest.events.*.InboundMessageReceived"
    assert producer.parent is not None and producer.parent.span_id == 0x00F067AA0BA902B7
    assert f"{producer.context.trace_id:032x}" == FOREIGN.split("-")[1]
    assert published["traceparent"] == (
        f"00-{producer.context.trace_id:032x}-{producer.context.span_id:016x}-01"
    )
    assert published[MSG_ID] == "m1"
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.name == "ingest.test"
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
    assert consumer.attributes is not None
    assert consumer.attributes["messaging.operation"] == "process"
    assert "traceparent" not in bus.published[1].headers
    assert trace.get_current_span() is trace.INVALID_SPAN
