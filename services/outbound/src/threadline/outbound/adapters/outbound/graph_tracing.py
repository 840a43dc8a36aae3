"""The Graph API's calls as CLIENT spans, named by the HTTP semantic conventions
(`{method} {url.template}`: the business number and media ids are attributes, never in the
name), their `traceparent` sent along so the sandbox (or a proxy) can continue the trace.

The generic aiohttp client instrumentation is suppressed inside: this span is the call's one
CLIENT span, with what an operator needs of it (which request, which number, the status).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_http_instrumentation
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from threadline.servicekit.telemetry import inject_trace_headers

_tracer = trace.get_tracer("threadline.outbound")
P = ParamSpec("P")
R = TypeVar("R")


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


def traced_call(
    method: str, url_template: str, *, request: str
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """A method of the Graph API client as one CLIENT span (the `traceparent` it injects into
    its request is the span's); a `{phone_number_id}` template's first argument is the number."""

    def decorate(
        call: Callable[P, Awaitable[R]],
    ) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(call)
        async def traced(*args: P.args, **kwargs: P.kwargs) -> R:
            attributes: dict[str, AttributeValue] = {
                "http.request.method": method,
                "url.template": url_template,
                "threadline.graph_api.request": request,
            }
            if "{phone_number_id}" in url_template and len(args) > 1:
                attributes["threadline.business_number"] = str(args[1])
            with (
                _tracer.start_as_current_span(
                    f"{method} {url_template}", kind=SpanKind.CLIENT, attributes=attributes
                ),
                suppress_http_instrumentation(),
            ):
                return await call(*args, **kwargs)

        return traced

    return decorate
