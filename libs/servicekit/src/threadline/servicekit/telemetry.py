"""OpenTelemetry tracing: one trace follows a message across services via `traceparent`.

Configured from OpenTelemetry's standard environment, read by the SDK's own parts where they
read it: the resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), the tracer provider
(`OTEL_SDK_DISABLED`, the sampler) and the exporters (`OTEL_EXPORTER_OTLP_*`: endpoint,
headers, timeout, certificate, compression). This module chooses only what the SDK leaves to
its distro: which exporters (`OTEL_TRACES_EXPORTER`) and over which protocol
(`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

from threadline.servicekit.config import ConfigError

EXPORTERS = ("otlp", "console", "none")
PROTOCOLS = ("grpc", "http/protobuf")
# Paths the aiohttp server instrumentation leaves alone unless the operator says otherwise
# (`OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS`): probes and scrapes, and ingest's webhook, whose
# own SERVER span starts each customer's trace.
EXCLUDED_SERVER_URLS = "/healthz,/readyz,/livez,/metrics,/webhooks/whatsapp"


def configure_tracing(
    service: str,
    *,
    extra_processors: tuple[SpanProcessor, ...] = (),
    env: Mapping[str, str] | None = None,
    instrument: bool = True,
) -> TracerProvider:
    """Install a tracer provider for `service` (its default `service.name`) and, with
    `instrument`, the maintained instrumentations (aiohttp client and server, gRPC clients,
    and psycopg where spans are received; the gRPC server's interceptor is `grpc_kit`'s).

    `OTEL_SDK_DISABLED=true`: a provider whose tracers record nothing, and no exporter.
    `OTEL_TRACES_EXPORTER` (comma-separated `otlp`, `console`, `none`): unset, spans are exported
    over OTLP when an OTLP endpoint is set and only propagated otherwise (trace ids still flow
    through every message header). Raises `ConfigError` for a value it does not know.

    While no span processor is added (no exporter, no `extra_processors`), no span is
    recorded: each is a non-recording span of the same trace, so ids still propagate, at a
    fraction of the CPU (`ReceivedOnly`).
    """
    env = os.environ if env is None else env
    exporters = span_exporters(env)
    provider = ReceivedTracerProvider(
        resource=service_resource(service), sampler=NoLoneClientCalls(_sampler_of_environment())
    )
    if not _disabled(env):
        for exporter in exporters:
            processor: SpanProcessor
            if isinstance(exporter, ConsoleSpanExporter):
                processor = SimpleSpanProcessor(exporter)
            else:
                processor = BatchSpanProcessor(exporter)
            provider.add_span_processor(processor)
    for extra in extra_processors:
        provider.add_span_processor(extra)
    trace.set_tracer_provider(provider)
    if instrument and not _disabled(env):
        install_instrumentations(database=provider.receiving)
    return provider


class ReceivedTracerProvider(TracerProvider):
    """A tracer provider that records spans only once something receives them: until a span
    processor is added its sampler drops every span (`ReceivedOnly`), so a service that exports
    nowhere does not build, time and throw away a span per message, query and call (about
    13 µs of CPU a span, 12 % of the platform's CPU a customer message: docs/benchmarks.md §1).
    Dropped spans still carry the trace: the id passes on in every header, marked not sampled
    (W3C's flag `00`), so a service downstream records none of that trace either — export from
    every service, or from none."""

    def __init__(self, *, resource: Resource, sampler: Sampler) -> None:
        self._received_only = ReceivedOnly(sampler)
        super().__init__(resource=resource, sampler=self._received_only)

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        self._received_only.receiving = True

    @property
    def receiving(self) -> bool:
        """Whether a span processor receives its spans (else none is recorded)."""
        return self._received_only.receiving


class ReceivedOnly(Sampler):
    """`delegate` once `receiving`, else no span sampled (the trace still propagates)."""

    def __init__(self, delegate: Sampler) -> None:
        self._delegate = delegate
        self.receiving = False

    def should_sample(
        self,
        parent_context: context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if not self.receiving:
            parent = trace.get_current_span(parent_context).get_span_context()
            return SamplingResult(
                Decision.DROP, None, parent.trace_state if parent.is_valid else None
            )
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"ReceivedOnly{{{self._delegate.get_description()}}}"


class NoLoneClientCalls(Sampler):
    """`delegate` (the sampler `OTEL_TRACES_SAMPLER` names), except that a CLIENT call made
    outside any trace starts none: the relay's and the projections' polls of PostgreSQL, a
    probe's gRPC call, would otherwise each be a one-span trace several times a second."""

    def __init__(self, delegate: Sampler) -> None:
        self._delegate = delegate

    def should_sample(
        self,
        parent_context: context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and not parent.is_valid:
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"NoLoneClientCalls{{{self._delegate.get_description()}}}"


def _sampler_of_environment() -> Sampler:
    """The sampler the SDK makes of `OTEL_TRACES_SAMPLER` (and its argument)."""
    return TracerProvider(shutdown_on_exit=False).sampler


def service_resource(service: str) -> Resource:
    """The SDK's resource (`OTEL_RESOURCE_ATTRIBUTES`, then `OTEL_SERVICE_NAME` over it), named
    `service` when neither names the service."""
    resource = Resource.create()
    name = str(resource.attributes.get(SERVICE_NAME, ""))
    if not name or name.startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    return resource


def span_exporters(env: Mapping[str, str]) -> list[SpanExporter]:
    """The exporters `OTEL_TRACES_EXPORTER` names (each reads its own `OTEL_EXPORTER_*`)."""
    raw = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if raw:
        names = [n.strip() for n in raw.split(",") if n.strip()]
    elif env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        names = ["otlp"]
    else:
        names = []
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        raise ConfigError(
            f"OTEL_TRACES_EXPORTER names {unknown[0]!r}; expected some of {', '.join(EXPORTERS)}"
        )
    exporters: list[SpanExporter] = []
    if "otlp" in names:
        exporters.append(_otlp_exporter(_protocol(env)))
    if "console" in names:
        exporters.append(ConsoleSpanExporter())
    return exporters


def _protocol(env: Mapping[str, str]) -> str:
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()
    if protocol not in PROTOCOLS:
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL is {protocol!r}; expected one of {', '.join(PROTOCOLS)}"
        )
    return protocol


def _otlp_exporter(protocol: str) -> SpanExporter:
    # Imported when chosen: each pulls in its transport (grpcio, requests).
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter()


def _disabled(env: Mapping[str, str]) -> bool:
    return env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def install_instrumentations(*, database: bool = True) -> None:
    """The maintained instrumentations, once per process: aiohttp's server (apps made after
    this; probes, scrapes and the webhook excluded unless `OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS`
    says otherwise) and client (sessions made after this), grpc.aio's channels, and with
    `database` psycopg's connections.

    `configure_tracing` leaves psycopg out where no span is received: a statement's span only
    times it, it carries no trace onward (HTTP and gRPC calls pass `traceparent` even when not
    recorded), and its wrapper of every cursor's `execute` was ~5 % of a `GetConversation`'s
    CPU in the analytics service (issue 15)."""
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    os.environ.setdefault("OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS", EXCLUDED_SERVER_URLS)
    instrumentors: list[Any] = [
        AioHttpServerInstrumentor(),
        AioHttpClientInstrumentor(),
        GrpcAioInstrumentorClient(),  # type: ignore[no-untyped-call]
    ]
    if database:
        instrumentors.append(PsycopgInstrumentor())
    for instrumentor in instrumentors:
        if not instrumentor.is_instrumented_by_opentelemetry:
            with warnings.catch_warnings():
                # aiohttp frowns on the server instrumentation's Application subclass; it is
                # the maintained package's way, and the warning says nothing to an operator.
                warnings.simplefilter("ignore", DeprecationWarning)
                instrumentor.instrument()


def grpc_server_interceptors() -> Sequence[Any]:
    """The gRPC server's tracing interceptor: a SERVER span per call, continuing the caller's
    `traceparent` (uses the global tracer provider, set before or after)."""
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor()]  # type: ignore[no-untyped-call]


def grpc_client_interceptors() -> Sequence[Any]:
    """Interceptors for a grpc.aio channel made where `install_instrumentations` did not run
    (the CLI): a CLIENT span per call, its `traceparent` sent as metadata (none where the
    channels are instrumented already, so no call is traced twice)."""
    from opentelemetry.instrumentation.grpc import (
        GrpcAioInstrumentorClient,
        aio_client_interceptors,
    )

    if GrpcAioInstrumentorClient().is_instrumented_by_opentelemetry:  # type: ignore[no-untyped-call]
        return []
    return list(aio_client_interceptors())  # type: ignore[no-untyped-call]


def ensure_tracing(service: str) -> None:
    """A command-line tool's tracing: `configure_tracing(service)` (the OTEL_* environment,
    no instrumentation) unless this process has a tracer provider already."""
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        configure_tracing(service, instrument=False)


def current_traceparent() -> str:
    """The current span's W3C `traceparent` ("" outside any trace)."""
    return inject_trace_headers({}).get("traceparent", "")


def inject_trace_headers(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Write the current span's `traceparent` (W3C) into `headers`."""
    propagate.inject(headers)
    return headers


def context_from_headers(headers: Mapping[str, str] | None) -> context.Context:
    """The trace context carried by a message's headers (empty when there is none)."""
    return propagate.extract(dict(headers or {}))
