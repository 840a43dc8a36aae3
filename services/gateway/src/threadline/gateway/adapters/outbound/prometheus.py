"""What the gateway counts for Prometheus (served on the ops port's `/metrics`): its REST API's
requests by route and status, and how long they took.

The route is the matched resource's pattern (`/api/v1/conversations/{conversation_id}`), never
the path, so the labels stay few; a request no route matched is `unmatched`. A request whose
caller went away before the answer (an event stream closed) is counted as 499, never a 5xx.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "threadline_gateway_http_requests_total",
    "REST API requests answered, by method, route pattern and status code.",
    ["method", "route", "code"],
)
REQUEST_SECONDS = Histogram(
    "threadline_gateway_http_request_seconds",
    "Time to answer a REST API request (an event stream: until it ended), by method and route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CLIENT_CLOSED = 499  # as nginx counts a request whose caller went away
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical[:200] if resource is not None else "unmatched"


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    code = 500
    try:
        response = await handler(request)
        code = response.status
        return response
    except web.HTTPException as answer:
        code = answer.status
        raise
    except asyncio.CancelledError:
        code = CLIENT_CLOSED  # the caller went away (an event stream closed): not a 5xx
        raise
    finally:
        method = request.method if request.method in METHODS else "other"
        route = route_of(request)
        REQUESTS.labels(method, route, str(code)).inc()
        REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - started)
