"""The one place that builds ingest: NATS, streams, the webhook app and the ops server."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace

from aiohttp import web
from nats.aio.client import Client as NatsClient
from prometheus_client import CollectorRegistry

from threadline.ingest.adapters.inbound.http_api import WebhookApi
from threadline.ingest.adapters.outbound.prometheus import IngestMetrics, service_registry
from threadline.ingest.adapters.outbound.publisher import JetStreamPublisher
from threadline.ingest.application.intake import WebhookIntake
from threadline.ingest.config import IngestConfig
from threadline.messaging.bus import JetStreamBus, PipelinedBus, payload_limit
from threadline.messaging.connection import connect_nats
from threadline.messaging.metrics import watch_jetstream
from threadline.messaging.readiness import nats_connected
from threadline.messaging.topology import Topology, ensure_streams
from threadline.servicekit.clock import Clock, utc_now
from threadline.servicekit.metrics import Refresh
from threadline.servicekit.ops_http import OpsServer, ReadinessCheck

log = logging.getLogger(__name__)

SERVICE = "ingest"
# Room for the headers and subject that travel with a raw body of the largest allowed size.
_HEADROOM = 4096


@dataclass(frozen=True)
class RunningIngest:
    """Ingest serving webhooks on `port` and ops on `ops_port`, until its exit stack unwinds
    (webhooks in flight are finished, then NATS is drained). `nats` is None when a test gave
    its own `bus`."""

    port: int
    ops_port: int
    bus: PipelinedBus
    nats: NatsClient | None


async def bootstrap(
    config: IngestConfig,
    stack: AsyncExitStack,
    *,
    bus: PipelinedBus | None = None,
    clock: Clock = utc_now,
) -> RunningIngest:
    """Connect to NATS, make sure the streams exist, and start both HTTP servers, registering
    each stop on `stack`. With a `bus` of its own (an `InMemoryBus`), a test runs ingest
    without NATS."""
    topology = Topology(config.nats_namespace, partitions=config.session_partitions)
    checks: dict[str, ReadinessCheck] = {}
    refreshers: list[Refresh] = []
    registry = service_registry()
    client: NatsClient | None = None
    if bus is None:
        client = await connect_nats(config.nats_url, SERVICE)
        stack.push_async_callback(client.drain)
        js = client.jetstream()
        await ensure_streams(js, topology, config.streams)
        bus = JetStreamBus(js)
        checks["nats"] = nats_connected(client)
        # Ingest owns no consumer: its /metrics shows its dead letters waiting.
        refreshers.append(watch_jetstream(stack, js, topology, SERVICE, registry=registry))
    config = _within_payload_limit(config, payload_limit(bus))
    app = _app(config, WebhookIntake(JetStreamPublisher(bus, topology), clock=clock), registry)
    port = await _serve(stack, app, config.host, config.port)
    ops = OpsServer(
        host=config.host,
        port=config.ops_port,
        checks=checks,
        registry=registry,
        refreshers=refreshers,
    )
    await ops.start()
    stack.push_async_callback(ops.stop)
    log.info(
        "ingest started on %s:%d (ops :%d), NATS %s",
        config.host,
        port,
        ops.port,
        config.nats_url if client is not None else "not used",
    )
    return RunningIngest(port=port, ops_port=ops.port, bus=bus, nats=client)


def _app(
    config: IngestConfig, intake: WebhookIntake, registry: CollectorRegistry
) -> web.Application:
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


async def _serve(stack: AsyncExitStack, app: web.Application, host: str, port: int) -> int:
    # Bodies are taken as sent: never inflated (see `WebhookApi`).
    runner = web.AppRunner(app, access_log=None, auto_decompress=False)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, host, port).start()
    return int(runner.addresses[0][1])


def _within_payload_limit(config: IngestConfig, max_payload: int) -> IngestConfig:
    """Bodies NATS could not carry are refused with 413 rather than failing forever with 503."""
    limit = max_payload - _HEADROOM
    if config.max_body_bytes <= limit:
        return config
    log.info(
        "webhook bodies limited to %d bytes (THREADLINE_INGEST_MAX_BODY_BYTES=%d, "
        "NATS max_payload %d)",
        limit,
        config.max_body_bytes,
        max_payload,
    )
    return replace(config, max_body_bytes=limit)
