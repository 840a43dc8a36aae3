"""Cross-origin requests (`THREADLINE_GATEWAY_CORS_ORIGINS`): a browser page served from one of
the configured origins may call the API; none is configured by default (the console is served
by the gateway itself, same origin).

A preflight (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin is answered
here, 204 with the methods and headers the API takes; every answer to an allowed origin names
it in `Access-Control-Allow-Origin`. `*` allows every origin (tokens are bearer headers, not
cookies, so no credentials are allowed either way).
"""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web
from aiohttp.typedefs import Handler

METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
HEADERS = "Authorization, Content-Type, Idempotency-Key"
EXPOSED = "X-Total-Count, X-Total-Estimated, Content-Disposition"
PREFLIGHT_SECONDS = "600"


def allow_origins(app: web.Application, origins: Collection[str]) -> None:
    """Let pages from `origins` (exact `scheme://host[:port]`, or `*`) call `app`."""
    allowed = frozenset(origin.rstrip("/") for origin in origins)
    if not allowed:
        return

    def allowed_origin(request: web.BaseRequest) -> str:
        origin = request.headers.get("Origin", "")
        return origin if origin and (origin in allowed or "*" in allowed) else ""

    @web.middleware
    async def preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            request.method == "OPTIONS"
            and "Access-Control-Request-Method" in request.headers
            and allowed_origin(request)
        ):
            response = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = METHODS
            response.headers["Access-Control-Allow-Headers"] = HEADERS
            response.headers["Access-Control-Max-Age"] = PREFLIGHT_SECONDS
            return response
        return await handler(request)

    async def name_the_origin(request: web.BaseRequest, response: web.StreamResponse) -> None:
        # On prepare, so streamed answers (the export) carry it too.
        origin = allowed_origin(request)
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED
            response.headers.add("Vary", "Origin")

    app.middlewares.insert(0, preflight)
    app.on_response_prepare.append(name_the_origin)
