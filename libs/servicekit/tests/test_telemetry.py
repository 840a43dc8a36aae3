"""Tracing configured from OpenTelemetry's standard environment, as a service runs it: in a
process of its own (a tracer provider is set once per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from threadline.servicekit.config import ConfigError
from threadline.servicekit.telemetry import service_resource, span_exporters

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
PROGRAM = """
import json
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from threadline.servicekit.telemetry import (
    configure_tracing, context_from_headers, current_traceparent
)

provider = configure_tracing("threadline-tester", instrument=False)
caller = context_from_headers({"traceparent": "CALLER"})
with trace.get_tracer("tests").start_as_current_span("one", context=caller) as span:
    recording = span.is_recording()
    traceparent = current_traceparent()
provider.force_flush()
# Something that receives spans, added later (as a test's in-memory exporter is).
provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
with trace.get_tracer("tests").start_as_current_span("two", context=caller) as span:
    recording_later = span.is_recording()
print(json.dumps({"service": provider.resource.attributes["service.name"],
                  "team": provider.resource.attributes.get("team"),
                  "recording": recording,
                  "traceparent": traceparent,
                  "recording_later": recording_later}), flush=True)
""".replace("CALLER", CALLER)


def run(env: dict[str, str]) -> tuple[dict[str, object], str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    ran = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROGRAM)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=clean | env,
    )
    # The program's facts are its last line (the console exporter writes its spans before).
    last = ran.stdout.strip().splitlines()[-1]
    return json.loads(last), ran.stdout


def test_service_name_defaults_to_threadline_service_and_resource_attributes_are_read() -> None:
    facts, _ = run({"OTEL_RESOURCE_ATTRIBUTES": "team=ops,deployment.environment=test"})

    assert (facts["service"], facts["team"]) == ("threadline-tester", "ops")


def test_without_an_exporter_no_span_is_recorded_and_the_trace_still_passes_on() -> None:
    """Nothing receives spans: none is built, but the caller's trace id goes on in the
    `traceparent` (a span id of this hop, marked not sampled), until a processor is added."""
    facts, _ = run({})

    version, trace_id, span_id, flags = str(facts["traceparent"]).split("-")
    assert (version, trace_id, flags) == ("00", CALLER.split("-")[1], "00")
    assert span_id != CALLER.split("-")[2]
    assert facts["recording"] is False
    assert facts["recording_later"] is True


def test_with_an_exporter_spans_are_recorded_and_sampled() -> None:
    facts, _ = run({"OTEL_TRACES_EXPORTER": "console"})

    assert facts["recording"] is True
    assert str(facts["traceparent"]).startswith("00-" + CALLER.split("-")[1])
    assert str(facts["traceparent"]).endswith("-01")


def test_otel_service_name_wins_over_the_default_and_the_resource_attributes() -> None:
    facts, _ = run(
        {"OTEL_SERVICE_NAME": "edge-outbound", "OTEL_RESOURCE_ATTRIBUTES": "service.name=x"}
    )

    assert facts["service"] == "edge-outbound"


def test_otel_sdk_disabled_records_nothing() -> None:
    facts, _ = run({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"})

    assert facts["recording"] is False


def test_the_console_exporter_writes_the_finished_span() -> None:
    _, out = run({"OTEL_TRACES_EXPORTER": "console"})

    assert '"name": "one"' in out
    assert '"service.name": "threadline-tester"' in out


def test_exporters_follow_otel_traces_exporter_and_the_protocol() -> None:
    assert span_exporters({}) == []
    assert span_exporters({"OTEL_TRACES_EXPORTER": "none"}) == []
    (grpc,) = span_exporters({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"})
    assert isinstance(grpc, OTLPSpanExporter)
    http, console = span_exporters(
        {"OTEL_TRACES_EXPORTER": "otlp,console", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    )
    assert isinstance(http, HttpSpanExporter)
    assert isinstance(console, ConsoleSpanExporter)
    for exporter in (grpc, http, console):
        exporter.shutdown()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER names 'zipkin'"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_PROTOCOL is 'http/json'",
        ),
    ],
)
def test_an_unknown_exporter_or_protocol_is_a_configuration_error(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        span_exporters(env)


def test_the_resource_of_this_process_is_named_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)

    assert service_resource("threadline-ingest").attributes["service.name"] == "threadline-ingest"


INSTRUMENTED = """
import json
import sys

import psycopg
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from threadline.servicekit.telemetry import configure_tracing

spans = InMemorySpanExporter()
configure_tracing("threadline-tester", extra_processors=(SimpleSpanProcessor(spans),))
with psycopg.connect(sys.argv[1]) as connection:
    connection.execute("SELECT 1")  # a poll outside any trace
    with trace.get_tracer("tests").start_as_current_span("work"):
        connection.execute("SELECT 2")
print(json.dumps([[s.name, s.kind.name, s.parent is not None] for s in spans.get_finished_spans()]))
"""


def test_psycopg_is_traced_inside_a_trace_and_a_lone_query_starts_none(database_url: str) -> None:
    finished = json.loads(_last_line_of(INSTRUMENTED, database_url))
    assert [kind for _, kind, _ in finished] == ["CLIENT", "INTERNAL"], finished
    (query, _, has_parent), work = finished
    assert has_parent and work == ["work", "INTERNAL", False]
    assert query.startswith("SELECT")


UNRECEIVED = """
import json

from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

from threadline.servicekit.telemetry import configure_tracing

configure_tracing("threadline-tester")  # no exporter, no processor: nothing receives spans
print(json.dumps([
    PsycopgInstrumentor().is_instrumented_by_opentelemetry,
    GrpcAioInstrumentorClient().is_instrumented_by_opentelemetry,
]))
"""


def test_psycopg_is_left_alone_where_no_span_is_received_but_calls_still_pass_the_trace() -> None:
    """A statement's span carries no trace onward; gRPC and HTTP calls still pass
    `traceparent`, so their instrumentations stay."""
    assert json.loads(_last_line_of(UNRECEIVED)) == [False, True]


def _last_line_of(script: str, *args: str) -> str:
    """What `script` printed last, run in a process of its own without any OTEL_ setting."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    ran = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=clean,
    )
    return ran.stdout.strip().splitlines()[-1]


GATEWAY_LIKE = """
import asyncio
import json
import urllib.request

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from threadline.servicekit.auth import TokenRegistry
from threadline.servicekit.grpc_kit import start_grpc_server
from threadline.servicekit.telemetry import configure_tracing

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
spans = InMemorySpanExporter()
configure_tracing("threadline-tester", extra_processors=(SimpleSpanProcessor(spans),))


async def main() -> None:
    server, port = await start_grpc_server(
        host="127.0.0.1", port=0, registrations=[], tokens=TokenRegistry.parse(""), errors={}
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")  # instrumented: made after
    health = health_pb2_grpc.HealthStub(channel)

    async def check(request: web.Request) -> web.Response:
        answer = await health.Check(health_pb2.HealthCheckRequest())
        return web.Response(text=str(answer.status))

    app = web.Application()  # instrumented: made after
    app.router.add_get("/api/check", check)
    app.router.add_get("/healthz", check)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    http_port = runner.addresses[0][1]

    def get(path: str) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{http_port}{path}", headers={"traceparent": CALLER}
        )
        urllib.request.urlopen(request, timeout=10).read()

    await asyncio.to_thread(get, "/api/check")
    await asyncio.to_thread(get, "/healthz")  # a probe: no span of its own
    await channel.close()
    await runner.cleanup()
    await server.stop(None)


asyncio.run(main())
print(json.dumps([
    [s.name, s.kind.name, f"{s.context.trace_id:032x}",
     f"{s.context.span_id:016x}", f"{s.parent.span_id:016x}" if s.parent else None]
    for s in spans.get_finished_spans()
]))
"""


def test_an_http_request_and_the_grpc_call_it_makes_continue_the_callers_trace() -> None:
    """The gateway's shape: the aiohttp server and grpc.aio client instrumentations that
    `configure_tracing` installs, and `grpc_kit`'s server interceptor."""
    finished = json.loads(_last_line_of(GATEWAY_LIKE))
    servers = [f for f in finished if f[1] == "SERVER"]
    (client,) = [f for f in finished if f[1] == "CLIENT"]
    http = one_named(servers, "GET /api/check")
    grpc_server = one_named(servers, "/grpc.health.v1.Health/Check")
    assert {f[2] for f in finished} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
    assert http[4] == "00f067aa0ba902b7"
    assert client[4] == http[3] and grpc_server[4] == client[3]
    assert len(finished) == 3, finished


def one_named(found: list[list[str]], name: str) -> list[str]:
    (match,) = [f for f in found if f[0] == name]
    return match
