"""The one place that builds ingest: NATS, streams, the webhook app and the ops server."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace

from aiohttp import web
from nats.aio.client import Client as NatsClient
from prometheus_client import CollectorRegistry

from threadline.ingest.application import WebhookIntake
from threadline.ingest.config import IngestConfig
from threadline.ingest.http_api import WebhookApi
from threadline.ingest.metrics import IngestMetrics, service_registry
from threadline.messaging.bus import EventBus, JetStreamBus
from threadline.messaging.readiness import nats_connected
from threadline.messaging.topology import Topology, ensure_streams
from threadline.servicekit.clock import Clock, utc_now
from threadline.servicekit.ops_http import OpsServer

log = logging.getLogger(__name__)

# Room for the headers and subject that travel with a raw body of the largest allowed size.
_HEADROOM = 4096


def build_app(
    config: IngestConfig,
    bus: EventBus,
    *,
    registry: CollectorRegistry,
    clock: Clock = utc_now,
) -> web.Application:
    """The webhook HTTP application over `bus` (a `JetStreamBus`, or an `InMemoryBus`)."""
    intake = WebhookIntake(bus, Topology(config.nats_namespace), clock=clock)
    api = WebhookApi(
        intake,
        app_secret=config.app_secret,
        verify_token=config.verify_token,
        max_body_bytes=config.max_body_bytes,
        metrics=IngestMetrics(registry),
    )
    app = web.Application(client_max_size=config.max_body_bytes)
    app.add_routes(api.routes())
    return app


@dataclass
class RunningIngest:
    """Ingest serving webhooks on `port` and ops on `ops_port`, until `aclose()`."""

    port: int
    ops_port: int
    _stack: AsyncExitStack

    async def aclose(self) -> None:
        """Stop taking webhooks (finishing those in flight), then drain NATS."""
        await self._stack.aclose()


async def bootstrap(config: IngestConfig, *, clock: Clock = utc_now) -> RunningIngest:
    """Connect to NATS, make sure the streams exist, and start both HTTP servers."""
    stack = AsyncExitStack()
    try:
        client = await _connect(config.nats_url)
        stack.push_async_callback(client.drain)
        js = client.jetstream()
        await ensure_streams(js, Topology(config.nats_namespace), config.streams)
        config = _within_payload_limit(config, client)
        registry = service_registry()
        app = build_app(config, JetStreamBus(js), registry=registry, clock=clock)
        port = await _serve(stack, app, config.host, config.port)
        ops = OpsServer(
            host=config.host,
            port=config.ops_port,
            checks={"nats": nats_connected(client)},
            registry=registry,
        )
        await ops.start()
        stack.push_async_callback(ops.stop)
    except BaseException:
        await stack.aclose()
        raise
    return RunningIngest(port=port, ops_port=ops.port, _stack=stack)


async def _connect(url: str) -> NatsClient:
    client = NatsClient()

    async def on_error(error: Exception) -> None:
        log.warning("NATS: %s", error)

    async def on_disconnected() -> None:
        if not client.is_closed:
            log.warning("NATS disconnected; webhooks are answered 503 until it is back")

    async def on_reconnected() -> None:
        log.info("NATS reconnected")

    await client.connect(
        url,
        name="threadline-ingest",
        max_reconnect_attempts=-1,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
    )
    return client


async def _serve(stack: AsyncExitStack, app: web.Application, host: str, port: int) -> int:
    # Bodies are taken as sent: never inflated (see `WebhookApi`).
    runner = web.AppRunner(app, access_log=None, auto_decompress=False)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, host, port).start()
    return int(runner.addresses[0][1])


def _within_payload_limit(config: IngestConfig, client: NatsClient) -> IngestConfig:
    """Bodies NATS could not carry are refused with 413 rather than failing forever with 503."""
    limit = client.max_payload - _HEADROOM
    if config.max_body_bytes <= limit:
        return config
    log.info(
        "webhook bodies limited to %d bytes (THREADLINE_INGEST_MAX_BODY_BYTES=%d, "
        "NATS max_payload %d)",
        limit,
        config.max_body_bytes,
        client.max_payload,
    )
    return replace(config, max_body_bytes=limit)
