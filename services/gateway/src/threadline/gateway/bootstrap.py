"""The one place that builds the gateway: channels to its upstreams, the media store it serves
attachments' files from, the REST API, ops.

The knowledge bases' upstream (the AI responder's `KnowledgeBases`, served only when it has a
database) is not part of `/readyz`: a platform without knowledge bases still serves
conversations, and the knowledge routes answer 503 while it is not there.

Given `THREADLINE_NATS_URL`, the gateway also reads the session's conversation events for the
console's live updates (`live`: one core subscription per process, nothing kept on the server);
without it `/api/v1/events` answers 503 and the rest is unchanged. With NATS the answers to
`Idempotency-Key`s are shared by every gateway process (the `GATEWAY_IDEMPOTENCY` bucket)."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass

from threadline.gateway.adapters.inbound.http.app import gateway_app, serve
from threadline.gateway.adapters.inbound.http.idempotency import AnswerStore, SharedAnswers
from threadline.gateway.adapters.inbound.http.live import LiveEvents
from threadline.gateway.adapters.outbound.prometheus import count_requests
from threadline.gateway.adapters.outbound.upstreams import (
    CONVERSATION_QUERIES,
    KNOWLEDGE_BASES,
    SESSION_COMMANDS,
    Upstreams,
    open_upstream,
)
from threadline.gateway.config import GatewayConfig
from threadline.gateway.webhooks.delivery import WebhookDelivery
from threadline.media import media_store_from_env
from threadline.messaging.connection import connect_nats
from threadline.messaging.metrics import watch_jetstream
from threadline.messaging.topology import Topology
from threadline.servicekit.metrics import Refresh
from threadline.servicekit.ops_http import OpsServer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunningGateway:
    """The running gateway, as the entry point and the tests reach it."""

    port: int
    ops_port: int


async def bootstrap(config: GatewayConfig, stack: AsyncExitStack) -> RunningGateway:
    """Start everything; `stack` stops it all again: ops and the listener first, then the
    channels."""
    analytics = open_upstream(
        stack, "analytics", config.analytics_grpc_address, CONVERSATION_QUERIES
    )
    session = open_upstream(stack, "session", config.session_grpc_address, SESSION_COMMANDS)
    knowledge = open_upstream(stack, "knowledge", config.knowledge_grpc_address, KNOWLEDGE_BASES)
    media = media_store_from_env(config.media_env, config.media_root)
    stack.push_async_callback(media.close)
    live = LiveEvents()
    answers: AnswerStore | None = None  # without NATS: this process's memory
    refreshers: list[Refresh] = []
    if config.nats_url:
        nats = await connect_nats(config.nats_url, "gateway")
        stack.push_async_callback(nats.close)
        topology = Topology(
            config.nats_namespace,
            partitions=config.session_partitions,
            narrow=config.narrow_consumers,
        )
        await live.start(nats, topology)
        stack.push_async_callback(live.stop)
        webhooks = WebhookDelivery(nats, topology, config.webhooks)
        await webhooks.start()
        stack.push_async_callback(webhooks.stop)
        answers = await SharedAnswers.open(nats.jetstream(), config.nats_namespace)
        # /metrics: the webhook consumer's lag and the gateway's dead letters.
        refreshers.append(watch_jetstream(stack, nats.jetstream(), topology, "gateway"))
    app = gateway_app(
        Upstreams.of(analytics, session, knowledge),
        media,
        live,
        cors_origins=config.cors_origins,
        answers=answers,
    )
    app.middlewares.insert(0, count_requests)
    port = await serve(stack, app, host=config.host, port=config.port)
    ops = OpsServer(
        host=config.host,
        port=config.ops_port,
        checks={"analytics": analytics.check(), "session": session.check()},
        refreshers=refreshers,
    )
    await ops.start()
    stack.push_async_callback(ops.stop)
    log.info(
        "gateway started: HTTP on %s:%d (analytics at %s, session at %s, knowledge at %s),"
        " ops on :%d",
        config.host,
        port,
        analytics.address,
        session.address,
        knowledge.address,
        ops.port,
    )
    return RunningGateway(port=port, ops_port=ops.port)
