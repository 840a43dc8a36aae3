"""One trace follows a message from the webhook to the Graph API."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import Platform
from tests.test_end_to_end import customer_number, customer_writes
from threadline.testing import eventually

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
    traceparent = platform.sandbox.outbox.messages(to=wa_id)[0].trace_headers["traceparent"]
    trace_id = int(traceparent.split("-")[1], 16)

    def in_trace() -> list[tuple[str, str, bool]]:
        return [
            (s.instrumentation_scope.name, s.name, s.parent is None)
            for s in spans.get_finished_spans()
            if s.context is not None
            and s.context.trace_id == trace_id
            and s.instrumentation_scope is not None
        ]

    await eventually(lambda: {scope for scope, _, _ in in_trace()} >= SERVICES, timeout=10)
    roots = [(scope, name) for scope, name, is_root in in_trace() if is_root]
    assert roots == [("threadline.ingest", "ingest.webhook")]
