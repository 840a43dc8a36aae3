"""One trace follows a message from the webhook to the Graph API."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from threadline.testing import eventually

from tests.conftest import Platform
from tests.test_end_to_end import customer_number, customer_writes

SERVICES = {
    "threadline.ingest",
    "threadline.session",
    "threadline.ai_responder",
    "threadline.outbound",
}


async def test_one_trace_spans_ingest_session_ai_responder_and_outbound(
    platform: Platform, spans: InMemorySpanExporter
) -> None:
    wa_id = customer_number()

    await customer_writes(platform, wa_id, "hi, tracing here")

    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=20)
    webhook_spans = [
        s
        for s in spans.get_finished_spans()
        if s.name == "ingest.webhook" and s.context is not None
    ]
    trace_ids = {s.context.trace_id for s in webhook_spans if s.context is not None}

    def services_in(trace_id: int) -> set[str]:
        return {
            s.instrumentation_scope.name
            for s in spans.get_finished_spans()
            if s.context is not None
            and s.context.trace_id == trace_id
            and s.instrumentation_scope is not None
        }

    await eventually(lambda: any(services_in(t) >= SERVICES for t in trace_ids), timeout=10)
    traceparent = platform.sandbox.outbox.messages(to=wa_id)[0].trace_headers["traceparent"]
    assert int(traceparent.split("-")[1], 16) in {
        t for t in trace_ids if services_in(t) >= SERVICES
    }
