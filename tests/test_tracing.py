"""One trace follows a message from the webhook to the Graph API, and an operator's send from
the CLI through the session, the relay and outbound to the Graph API."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.conftest import Platform
from tests.test_end_to_end import customer_number, customer_writes
from tests.test_operator_files import PDF, a_customer_who_wrote
from threadline.cli.endpoints import SessionEndpoint
from threadline.cli.send import send_files as cli_send_files
from threadline.contracts.analytics.v1 import analytics_pb2 as analytics_pb
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
    # No span is named after a business number or a subject: those are attributes.
    names = {name for _, name, _ in in_trace()}
    assert not [name for name in names if any(part.isdigit() for part in name.split("."))]
    assert "session.record" in names


SEND_CALL = "POST /{version}/{phone_number_id}/messages"


def chain(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    """`span` and its ancestors, nearest first."""
    found = [span]
    while found[-1].parent is not None and found[-1].parent.span_id in by_id:
        found.append(by_id[found[-1].parent.span_id])
    return found


def one(found: Sequence[ReadableSpan], what: str) -> ReadableSpan:
    assert len(found) == 1, f"{what}: {[s.name for s in found]}"
    return found[0]


async def test_an_operators_send_is_one_trace_from_the_cli_to_the_graph_api(
    platform: Platform, spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    wa_id = await a_customer_who_wrote(platform)
    path = tmp_path / "quote.pdf"
    path.write_bytes(PDF)
    listed = await platform.analytics.ListConversations(
        analytics_pb.ListConversationsRequest(customer_phone=wa_id), metadata=platform.auth
    )
    endpoint = SessionEndpoint(f"127.0.0.1:{platform.session_grpc_port}", platform.api_token)

    answer = await cli_send_files(
        endpoint, listed.conversations[0].id, [path], caption="Traced from the command line."
    )

    (message_id,) = answer.message_ids
    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 2, timeout=30)
    sent = platform.sandbox.outbox.messages(to=wa_id)[-1]
    trace_id = int(sent.trace_headers["traceparent"].split("-")[1], 16)

    def of_trace() -> list[ReadableSpan]:
        return [
            s
            for s in spans.get_finished_spans()
            if s.context is not None and s.context.trace_id == trace_id
        ]

    def graph_calls() -> list[ReadableSpan]:
        return [s for s in of_trace() if s.kind is SpanKind.CLIENT and s.name == SEND_CALL]

    def ancestry_now() -> list[ReadableSpan]:
        """The Graph API call and its finished ancestors (a parent ends after its child)."""
        calls = graph_calls()
        if not calls:
            return []
        by_id = {s.context.span_id: s for s in of_trace() if s.context is not None}
        return chain(one(calls, "Graph API calls"), by_id)

    await eventually(lambda: len(ancestry_now()) >= 6, timeout=10)
    ancestry = ancestry_now()
    graph_call = ancestry[0]
    kinds = [
        (s.kind, s.instrumentation_scope.name if s.instrumentation_scope else "") for s in ancestry
    ]

    # The Graph API call ← outbound's dispatch (CONSUMER) ← the relay's publish (PRODUCER)
    # ← the session's SendFiles (SERVER) ← the CLI's gRPC call (CLIENT) ← `threadline send`.
    # The file was uploaded first, in the same dispatch.
    (upload,) = [s for s in of_trace() if s.name == "POST /{version}/{phone_number_id}/media"]
    assert upload.kind is SpanKind.CLIENT
    assert upload.parent is not None and upload.parent.span_id == ancestry[1].context.span_id
    assert graph_call.attributes is not None
    assert graph_call.attributes["http.response.status_code"] == 200
    assert graph_call.attributes["threadline.business_number"] == sent.phone_number_id
    dispatch, publish = ancestry[1], ancestry[2]
    assert (dispatch.name, dispatch.kind) == ("outbound.send", SpanKind.CONSUMER)
    assert dispatch.attributes is not None
    assert dispatch.attributes["threadline.message_id"] == message_id
    assert dispatch.attributes["messaging.system"] == "nats"
    assert dispatch.attributes["messaging.operation"] == "process"
    assert publish.kind is SpanKind.PRODUCER
    assert publish.attributes is not None
    assert str(publish.attributes["messaging.destination.name"]).endswith(
        "Conversation.OutboundMessageQueued"
    )
    server = ancestry[3]
    assert server.kind is SpanKind.SERVER
    assert server.name == "/threadline.session.v1.SessionCommands/SendFiles"
    client, root = ancestry[4], ancestry[5]
    assert client.kind is SpanKind.CLIENT and client.name == server.name
    assert (root.name, root.parent, root.instrumentation_scope) == (
        "threadline send",
        None,
        root.instrumentation_scope,
    )
    assert root.instrumentation_scope is not None
    assert root.instrumentation_scope.name == "threadline.cli"
    assert len(ancestry) == 6, kinds
