"""The one place that builds the analytics service: connections, projections, servers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass

import nats

from threadline.analytics.adapters.inbound.grpc.conversation_queries import (
    ERRORS,
    RULES,
    registration,
)
from threadline.analytics.adapters.inbound.grpc.metrics_api import (
    registration as metrics_registration,
)
from threadline.analytics.config import AnalyticsConfig
from threadline.analytics.http_gateway import local_address, start_gateway
from threadline.analytics.read.conversation_metrics import ConversationMetrics
from threadline.analytics.read.export import ConversationExports
from threadline.analytics.read.queries import ConversationQueries
from threadline.analytics.read_models.database import database_check, open_pool
from threadline.analytics.read_models.schema import migrate
from threadline.analytics.write.consumer import ProjectionConsumer, stream_reader
from threadline.messaging.bus import JetStreamBus
from threadline.messaging.consumer import ConsumerLoop, ConsumerSettings
from threadline.messaging.readiness import nats_connected
from threadline.messaging.topology import SESSION_EVENTS, Topology, ensure_streams
from threadline.servicekit.clock import Clock, utc_now
from threadline.servicekit.grpc_kit import start_grpc_server
from threadline.servicekit.ops_http import OpsServer, ReadinessCheck

log = logging.getLogger(__name__)

SERVICE = "analytics"
DURABLE = "analytics-projections"
GRACE_SECONDS = 5.0
RESTART_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Analytics:
    """The running service, as the entry point and the tests reach it."""

    grpc_port: int
    ops_port: int
    queries: ConversationQueries
    gateway_port: int | None = None


async def start_analytics(
    config: AnalyticsConfig, stack: AsyncExitStack, *, clock: Clock = utc_now
) -> Analytics:
    """Start everything; `stack` stops it all again, servers first and connections last."""
    client = await nats.connect(
        config.nats_url, name="threadline-analytics", max_reconnect_attempts=-1
    )
    stack.push_async_callback(client.drain)
    js = client.jetstream()
    topology = Topology(config.nats_namespace)
    await ensure_streams(js, topology, config.streams)

    pool = await open_pool(config.database_url)
    stack.push_async_callback(pool.close)
    async with pool.connection() as connection:
        version = await migrate(connection)
    log.info("analytics schema at version %d", version)

    consumer = ConsumerLoop(
        js=js,
        dead_letters=JetStreamBus(js),
        topology=topology,
        service=SERVICE,
        settings=ConsumerSettings(
            stream=topology.stream(SESSION_EVENTS),
            durable=DURABLE,
            filter_subject=topology.subject("session.events.>"),
            batch_size=config.batch_size,
        ),
        handler=ProjectionConsumer(
            pool,
            rates=config.rates,
            read_at=stream_reader(js, topology.stream(SESSION_EVENTS)),
        ).handle,
    )
    task = asyncio.create_task(_keep_consuming(consumer), name=DURABLE)
    stack.push_async_callback(_stop_consuming, consumer, task)

    queries = ConversationQueries(pool, clock=clock)
    server, grpc_port = await start_grpc_server(
        host=config.host,
        port=config.grpc_port,
        registrations=[
            registration(queries),
            metrics_registration(ConversationMetrics(pool), ConversationExports(pool)),
        ],
        tokens=config.tokens,
        errors=ERRORS,
        rules=RULES,
    )
    stack.push_async_callback(server.stop, GRACE_SECONDS)
    gateway_port = None
    if config.gateway_port is not None:
        gateway_port = await start_gateway(
            stack,
            host=config.host,
            port=config.gateway_port,
            queries_address=local_address(config.host, grpc_port),
            commands_address=config.session_grpc_address,
        )

    ops = OpsServer(
        host=config.host,
        port=config.ops_port,
        checks={
            "database": database_check(pool),
            "nats": nats_connected(client),
            "projections": _task_check(task),
        },
    )
    await ops.start()
    stack.push_async_callback(ops.stop)
    return Analytics(
        grpc_port=grpc_port, ops_port=ops.port, queries=queries, gateway_port=gateway_port
    )


async def _keep_consuming(consumer: ConsumerLoop) -> None:
    """Run the consumer, starting it again if it dies (e.g. NATS was briefly away)."""
    while True:
        try:
            await consumer.run()
            return
        except Exception:
            log.exception("projection consumer failed; restarting in %.0fs", RESTART_SECONDS)
            await asyncio.sleep(RESTART_SECONDS)


async def _stop_consuming(consumer: ConsumerLoop, task: asyncio.Task[None]) -> None:
    consumer.stop()
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(task, GRACE_SECONDS)


def _task_check(task: asyncio.Task[None]) -> ReadinessCheck:
    async def check() -> str | None:
        return "the projection consumer has stopped" if task.done() else None

    return check
