"""OpenTelemetry tracing: one trace follows a message across services via `traceparent`."""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def configure_tracing(
    service: str, *, extra_processors: tuple[SpanProcessor, ...] = ()
) -> TracerProvider:
    """Install a tracer provider for `service`.

    Spans are exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; otherwise they are
    only propagated (trace ids still flow through every message header).
    """
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    for processor in extra_processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    return provider


def inject_trace_headers(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Write the current span's `traceparent` (W3C) into `headers`."""
    propagate.inject(headers)
    return headers


def context_from_headers(headers: Mapping[str, str] | None) -> context.Context:
    """The trace context carried by a message's headers (empty when there is none)."""
    return propagate.extract(dict(headers or {}))
