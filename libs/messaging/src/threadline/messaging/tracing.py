"""Messaging spans by OpenTelemetry's semantic conventions: a PRODUCER span for each publish, a
CONSUMER span for each message handled, with `messaging.*` attributes.

Span names stay low in cardinality: a subject's business number (the one all-digit token of
ingest's subjects) is replaced by `*` in `messaging.destination.template` and the span name,
and kept as the `threadline.business_number` attribute.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from threadline.servicekit.telemetry import context_from_headers, inject_trace_headers

SYSTEM = "nats"
_tracer = trace.get_tracer("threadline.messaging")


def destination_template(subject: str) -> str:
    """`subject` with its variable tokens (all digits: a business number) as `*`."""
    return ".".join("*" if token.isdigit() else token for token in subject.split("."))


def messaging_attributes(
    subject: str, operation: str, *, delivery_attempt: int | None = None
) -> dict[str, AttributeValue]:
    """The semantic-convention attributes of a message on `subject` (`operation`: publish,
    process)."""
    attributes: dict[str, AttributeValue] = {
        "messaging.system": SYSTEM,
        "messaging.destination.name": subject,
        "messaging.destination.template": destination_template(subject),
        "messaging.operation": operation,
        "messaging.operation.type": operation,
    }
    number = next((token for token in subject.split(".") if token.isdigit()), None)
    if number is not None:
        attributes["threadline.business_number"] = number
    if delivery_attempt is not None:
        attributes["messaging.delivery_attempt"] = delivery_attempt
    return attributes


@contextmanager
def consuming(
    name: str,
    subject: str,
    headers: Mapping[str, str] | None,
    *,
    delivery_attempt: int | None = None,
    tracer: trace.Tracer | None = None,
) -> Iterator[Span]:
    """A CONSUMER span named `name` (low cardinality, e.g. `outbound.send`) for handling one
    message, continuing the trace its headers carry."""
    with (tracer or _tracer).start_as_current_span(
        name,
        context=context_from_headers(headers),
        kind=SpanKind.CONSUMER,
        attributes=messaging_attributes(subject, "process", delivery_attempt=delivery_attempt),
    ) as span:
        yield span


@contextmanager
def publishing(subject: str, headers: MutableMapping[str, str]) -> Iterator[Span]:
    """A PRODUCER span for publishing on `subject`, child of the trace `headers` carry (or of
    the current span); its `traceparent` replaces theirs, so the consumer's span is its child.
    A message outside any trace stays outside (no span, no header)."""
    parent = context_from_headers(headers) if "traceparent" in headers else None
    if parent is None and not trace.get_current_span().get_span_context().is_valid:
        yield trace.INVALID_SPAN
        return
    with _tracer.start_as_current_span(
        f"publish {destination_template(subject)}",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes=messaging_attributes(subject, "publish"),
    ) as span:
        carried = {key: headers.pop(key) for key in ("traceparent", "tracestate") if key in headers}
        inject_trace_headers(headers)
        if "traceparent" not in headers:  # tracing off: the message keeps the trace it had
            headers.update(carried)
        yield span
