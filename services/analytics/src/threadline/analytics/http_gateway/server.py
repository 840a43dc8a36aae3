"""Serving the gateway: its channels to the gRPC APIs and the HTTP listener."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

import grpc
from aiohttp import web

from threadline.analytics.http_gateway.errors import errors_as_json
from threadline.analytics.http_gateway.routes import UPSTREAMS, Upstreams, routes
from threadline.contracts.analytics.v1 import analytics_pb2_grpc
from threadline.contracts.session.v1 import session_pb2_grpc

log = logging.getLogger(__name__)

# A status change is a few bytes; refuse anything much larger before reading it.
MAX_BODY_BYTES = 64 * 1024


def gateway_app(upstreams: Upstreams) -> web.Application:
    app = web.Application(middlewares=[errors_as_json], client_max_size=MAX_BODY_BYTES)
    app[UPSTREAMS] = upstreams
    app.add_routes(routes)
    return app


async def start_gateway(
    stack: AsyncExitStack,
    *,
    host: str,
    port: int,
    queries_address: str,
    commands_address: str,
) -> int:
    """Serve the gateway on `host:port`; returns the bound port (useful when `port` is 0).

    Reads go to `ConversationQueries` at `queries_address`, status changes to the session's
    `SessionCommands` at `commands_address`; `stack` stops the listener, then the channels.
    """
    queries = grpc.aio.insecure_channel(queries_address)
    stack.push_async_callback(queries.close)
    commands = grpc.aio.insecure_channel(commands_address)
    stack.push_async_callback(commands.close)
    upstreams = Upstreams(
        queries=analytics_pb2_grpc.ConversationQueriesStub(queries),
        commands=session_pb2_grpc.SessionCommandsStub(commands),
    )
    runner = web.AppRunner(gateway_app(upstreams), access_log=None, auto_decompress=False)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, host, port).start()
    bound = int(runner.addresses[0][1])
    log.info("HTTP gateway on %s:%d (session commands at %s)", host, bound, commands_address)
    return bound


def local_address(host: str, port: int) -> str:
    """How this process reaches its own gRPC server bound to `host`."""
    if host in {"", "0.0.0.0"}:
        return f"127.0.0.1:{port}"
    if host == "::":
        return f"[::1]:{port}"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
