"""Serving the REST API: the aiohttp application and its listener."""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AsyncExitStack

from aiohttp import web

from threadline.gateway.adapters.inbound.http.configuration import configuration_routes
from threadline.gateway.adapters.inbound.http.console import console_routes
from threadline.gateway.adapters.inbound.http.conversations import conversation_routes
from threadline.gateway.adapters.inbound.http.cors import allow_origins
from threadline.gateway.adapters.inbound.http.errors import errors_as_json
from threadline.gateway.adapters.inbound.http.idempotency import (
    ANSWER_STORE,
    AnswerStore,
    LocalAnswers,
    idempotent_posts,
)
from threadline.gateway.adapters.inbound.http.knowledge_bases import knowledge_routes
from threadline.gateway.adapters.inbound.http.live import LIVE_EVENTS, LiveEvents, live_routes
from threadline.gateway.adapters.inbound.http.metrics import metrics_routes
from threadline.gateway.adapters.inbound.http.numbers import number_routes
from threadline.gateway.adapters.inbound.http.openapi import docs_routes
from threadline.gateway.adapters.inbound.http.routes import MEDIA, UPSTREAMS
from threadline.gateway.adapters.inbound.http.testchat import test_chat_routes
from threadline.gateway.adapters.inbound.http.tokens import token_routes
from threadline.gateway.adapters.inbound.http.webhooks import webhook_routes
from threadline.gateway.adapters.outbound.upstreams import Upstreams
from threadline.media import MediaStore

# A status change is a few bytes; refuse anything much larger before reading it.
MAX_BODY_BYTES = 64 * 1024
# How long a stop waits for requests under way (an export, an upload) before cutting them: a
# live event stream never ends by itself, and an idle keep-alive connection is otherwise waited
# for the whole time (aiohttp's default is 60 s).
SHUTDOWN_SECONDS = 5.0


def gateway_app(
    upstreams: Upstreams,
    media: MediaStore,
    live: LiveEvents | None = None,
    *,
    cors_origins: Collection[str] = (),
    answers: AnswerStore | None = None,
) -> web.Application:
    """The REST API, the console and (given `live`, which reads NATS) its live updates;
    `Idempotency-Key` answers kept in `answers` (this process's memory when None)."""
    app = web.Application(
        middlewares=[errors_as_json, idempotent_posts], client_max_size=MAX_BODY_BYTES
    )
    app[UPSTREAMS] = upstreams
    app[MEDIA] = media
    app[ANSWER_STORE] = answers or LocalAnswers()
    app[LIVE_EVENTS] = live or LiveEvents()
    app.add_routes(conversation_routes)
    app.add_routes(metrics_routes)
    app.add_routes(number_routes)
    app.add_routes(configuration_routes)
    app.add_routes(knowledge_routes)
    app.add_routes(token_routes)
    app.add_routes(test_chat_routes)
    app.add_routes(webhook_routes)
    app.add_routes(live_routes)
    app.add_routes(console_routes)
    app.add_routes(docs_routes())
    allow_origins(app, cors_origins)
    return app


async def serve(stack: AsyncExitStack, app: web.Application, *, host: str, port: int) -> int:
    """Serve `app` on `host:port` until `stack` unwinds; returns the bound port (useful when
    `port` is 0)."""
    runner = web.AppRunner(
        app, access_log=None, auto_decompress=False, shutdown_timeout=SHUTDOWN_SECONDS
    )
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, host, port).start()
    return int(runner.addresses[0][1])
