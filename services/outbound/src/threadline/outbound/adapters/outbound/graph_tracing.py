"""The Graph API's calls as CLIENT spans, named by the HTTP semantic conventions
(`{method} {url.template}`: the business number and media ids are attributes, never in the
name), their `traceparent` sent along so the sandbox (or a proxy) can continue the trace.

The generic aiohttp client instrumentation is suppressed inside: this span is the call's one
CLIENT span, with what an operator needs of it (which request, which number, the status).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_http_instrumentation
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from threadline.servicekit.telemetry import inject_trace_headers

_tracer = trace.get_tracer("threadline.outbound")


@contextmanager
def graph_call(
    method: str,
    url_template: str,
    url: str,
    headers: MutableMapping[str, str],
    *,
    request: str,
    business_number: str = "",
) -> Iterator[Span]:
    """A CLIENT span around one call; writes its `traceparent` into `headers`."""
    parts = urlsplit(url)
    attributes: dict[str, AttributeValue] = {
        "http.request.method": method,
        "url.template": url_template,
        "server.address": parts.hostname or "",
        "threadline.graph_api.request": request,
    }
    if parts.port:
        attributes["server.port"] = parts.port
    if business_number:
        attributes["threadline.business_number"] = business_number
    with (
        _tracer.start_as_current_span(
            f"{method} {url_template}", kind=SpanKind.CLIENT, attributes=attributes
        ) as span,
        suppress_http_instrumentation(),
    ):
        inject_trace_headers(headers)
        yield span
