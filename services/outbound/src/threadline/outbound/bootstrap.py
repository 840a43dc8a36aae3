"""The one place that builds the outbound service: connections, adapters, use case, consumer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass

import aiohttp
import nats
from nats.aio.client import Client as NatsClient

from threadline.messaging.bus import JetStreamBus
from threadline.messaging.consumer import ConsumerLoop, ConsumerSettings
from threadline.messaging.readiness import nats_connected
from threadline.messaging.topology import SESSION_EVENTS, Topology, ensure_streams
from threadline.outbound.application import MessageDispatcher
from threadline.outbound.config import OutboundConfig
from threadline.outbound.consumers import DURABLE, DispatchHandler
from threadline.outbound.graph_api import HttpGraphApi
from threadline.outbound.integration_events import queued_subject
from threadline.outbound.sent_ledger import KeyValueSentLedger
from threadline.servicekit.ops_http import OpsServer, ReadinessCheck

log = logging.getLogger(__name__)

SERVICE = "outbound"
GRAPH_API_TIMEOUT = 20.0  # seconds for one send, connection included
MAX_DELIVER = 5
BACKOFF = (1.0, 5.0, 15.0, 60.0)  # a throughput or pair rate limit needs seconds, not ms


@dataclass(frozen=True)
class RunningOutbound:
    """What `start_outbound` started; the exit stack stops it."""

    nats: NatsClient
    consumer: ConsumerLoop
    ops: OpsServer


async def start_outbound(
    config: OutboundConfig,
    stack: AsyncExitStack,
    *,
    max_deliver: int = MAX_DELIVER,
    backoff: Sequence[float] = BACKOFF,
) -> RunningOutbound:
    """Connect, build and start everything, registering each stop on `stack`."""
    nc = await nats.connect(config.nats_url, name="threadline-outbound", max_reconnect_attempts=-1)
    stack.push_async_callback(nc.drain)
    js = nc.jetstream()
    topology = Topology(config.nats_namespace)
    await ensure_streams(js, topology, config.streams)
    ledger = await KeyValueSentLedger.open(js, namespace=config.nats_namespace)

    http = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=GRAPH_API_TIMEOUT),
        connector=aiohttp.TCPConnector(limit=config.concurrency),
    )
    stack.push_async_callback(http.close)
    graph = HttpGraphApi(
        http,
        base_url=config.graph_api_base_url,
        version=config.graph_api_version,
        access_token=config.access_token,
    )
    bus = JetStreamBus(js)
    dispatcher = MessageDispatcher(graph=graph, ledger=ledger, bus=bus, topology=topology)

    settings = ConsumerSettings(
        stream=topology.stream(SESSION_EVENTS),
        durable=DURABLE,
        filter_subject=queued_subject(topology),
        batch_size=config.concurrency * 2,
        max_deliver=max_deliver,
        backoff=backoff,
        # Two rounds of sends that all take the full Graph API timeout, and some room.
        ack_wait=GRAPH_API_TIMEOUT * 3,
    )
    handler = DispatchHandler(
        dispatcher, concurrency=config.concurrency, max_deliver=settings.max_deliver
    )
    consumer = ConsumerLoop(
        js,
        dead_letters=bus,
        topology=topology,
        service=SERVICE,
        settings=settings,
        handler=handler,
    )
    task = asyncio.create_task(consumer.run(), name=f"{SERVICE}-{DURABLE}")
    stack.push_async_callback(_stop_consumer, consumer, task)

    ops = OpsServer(
        host=config.host,
        port=config.ops_port,
        checks={"nats": nats_connected(nc), "consumer": _consumer_running(task)},
    )
    await ops.start()
    stack.push_async_callback(ops.stop)
    log.info(
        "outbound ops HTTP on %s:%d, sending to %s",
        config.host,
        ops.port,
        config.graph_api_base_url,
    )
    return RunningOutbound(nats=nc, consumer=consumer, ops=ops)


async def _stop_consumer(consumer: ConsumerLoop, task: asyncio.Task[None]) -> None:
    consumer.stop()
    try:
        await asyncio.wait_for(asyncio.shield(task), GRAPH_API_TIMEOUT + 5)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _consumer_running(task: asyncio.Task[None]) -> ReadinessCheck:
    async def check() -> str | None:
        if not task.done():
            return None
        error = None if task.cancelled() else task.exception()
        return f"consumer stopped: {error!r}" if error else "consumer stopped"

    return check
