"""The one place that builds the analytics service: connections, the projection, servers."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from psycopg_pool import AsyncConnectionPool

from threadline.analytics.adapters.inbound.grpc import conversation_queries, metrics_api
from threadline.analytics.adapters.inbound.projection_consumer import ProjectionConsumer
from threadline.analytics.adapters.outbound.prometheus import PrometheusReport
from threadline.analytics.adapters.outbound.read_models.database import (
    database_check,
    open_pool,
    open_query_pool,
)
from threadline.analytics.adapters.outbound.read_models.projection_store import (
    PostgresProjectionStore,
)
from threadline.analytics.adapters.outbound.read_models.schema import migrate
from threadline.analytics.adapters.outbound.session_events_stream import (
    MessageAt,
    SessionEventsHistory,
    stream_reader,
)
from threadline.analytics.application.read.conversation_metrics import ConversationMetrics
from threadline.analytics.application.read.export import ConversationExports
from threadline.analytics.application.read.queries import ConversationQueries
from threadline.analytics.application.write.live_projection import LiveProjection
from threadline.analytics.config import AnalyticsConfig
from threadline.analytics.domain.write.rates import EXAMPLE_RATES, Rates
from threadline.messaging.bus import JetStreamBus
from threadline.messaging.connection import connect_nats
from threadline.messaging.consumer import ConsumerLoop, ConsumerSettings
from threadline.messaging.metrics import watch_jetstream
from threadline.messaging.readiness import nats_connected
from threadline.messaging.token_follower import follow_managed_tokens
from threadline.messaging.topology import ANALYTICS_PROJECTIONS, Topology, ensure_streams
from threadline.servicekit.background import Background, run_in_background
from threadline.servicekit.clock import Clock, utc_now
from threadline.servicekit.grpc_kit import start_grpc_server
from threadline.servicekit.ops_http import OpsServer

log = logging.getLogger(__name__)

SERVICE = "analytics"
GRACE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class RunningAnalytics:
    """The running service, as the entry point and the tests reach it."""

    host: str
    grpc_port: int
    ops_port: int
    queries: ConversationQueries
    projection: Background

    @property
    def grpc_address(self) -> str:
        """Where a process on this machine reaches the gRPC APIs."""
        return local_address(self.host, self.grpc_port)


async def bootstrap(
    config: AnalyticsConfig, stack: AsyncExitStack, *, clock: Clock = utc_now
) -> RunningAnalytics:
    """Start everything; `stack` stops it all again, servers first and connections last."""
    client = await connect_nats(config.nats_url, SERVICE)
    stack.push_async_callback(client.drain)
    js = client.jetstream()
    topology = Topology(config.nats_namespace, partitions=config.session_partitions)
    await ensure_streams(js, topology, config.streams)

    pool = await open_pool(config.database_url)
    stack.push_async_callback(pool.close)
    async with pool.connection() as connection:
        version = await migrate(connection)
    log.info("analytics schema at version %d", version)

    projection = _start_projection(stack, config, js, topology, pool)
    tokens = await follow_managed_tokens(stack, js, topology, config.tokens, SERVICE)
    query_pool = await open_query_pool(config.database_url)
    stack.push_async_callback(query_pool.close)
    queries = ConversationQueries(query_pool, clock=clock)
    server, grpc_port = await start_grpc_server(
        host=config.host,
        port=config.grpc_port,
        registrations=[
            conversation_queries.registration(queries),
            metrics_api.registration(ConversationMetrics(pool), ConversationExports(pool)),
        ],
        tokens=config.tokens,
        errors=conversation_queries.ERRORS,
        rules=conversation_queries.RULES,
    )
    stack.push_async_callback(server.stop, GRACE_SECONDS)

    ops = OpsServer(
        host=config.host,
        port=config.ops_port,
        refreshers=[watch_jetstream(stack, js, topology, SERVICE)],
        checks={
            "database": database_check(pool),
            "nats": nats_connected(client),
            "projections": projection.check(),
            "api_tokens": tokens.check(),
        },
    )
    await ops.start()
    stack.push_async_callback(ops.stop)
    log.info("analytics started: gRPC on %s:%d, ops on :%d", config.host, grpc_port, ops.port)
    return RunningAnalytics(config.host, grpc_port, ops.port, queries, projection)


def _start_projection(
    stack: AsyncExitStack,
    config: AnalyticsConfig,
    js: JetStreamContext,
    topology: Topology,
    pool: AsyncConnectionPool[Any],
) -> Background:
    """The projection's consumer loop, started again if it dies (e.g. NATS was briefly away)."""
    stream = topology.stream(ANALYTICS_PROJECTIONS.stream)
    consumer = ConsumerLoop(
        js=js,
        dead_letters=JetStreamBus(js),
        topology=topology,
        service=SERVICE,
        settings=ConsumerSettings.of(topology, ANALYTICS_PROJECTIONS, batch_size=config.batch_size),
        handler=projection_consumer(
            pool,
            rates=config.rates,
            read_at=stream_reader(js, stream),
            partitions=config.session_partitions,
        ).handle,
    )
    return run_in_background(
        stack,
        ANALYTICS_PROJECTIONS.name,
        consumer.run,
        stop=consumer.stop,
        grace=GRACE_SECONDS,
        restart=True,
    )


def projection_consumer(
    pool: AsyncConnectionPool[Any],
    *,
    rates: Rates = EXAMPLE_RATES,
    read_at: MessageAt | None = None,
    partitions: int = 1,
) -> ProjectionConsumer:
    """The projection's batch handler, wired to the read models in `pool` (tests and benchmarks
    build it here too). `read_at` reads SESSION_EVENTS back by sequence to fill gaps; None:
    deliveries are trusted to come in order (unit tests of the projection); `partitions`: how
    many partitions the session relays its events in."""
    history = None if read_at is None else SessionEventsHistory(read_at)
    store = PostgresProjectionStore(pool, partitions=partitions)
    return ProjectionConsumer(
        LiveProjection(store, report=PrometheusReport(), history=history, rates=rates)
    )


def local_address(host: str, port: int) -> str:
    """How a process on this machine reaches a server bound to `host`."""
    if host in {"", "0.0.0.0"}:
        return f"127.0.0.1:{port}"
    if host == "::":
        return f"[::1]:{port}"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
