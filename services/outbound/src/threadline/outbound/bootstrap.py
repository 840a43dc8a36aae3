"""The one place that builds the outbound service: connections, adapters, use cases, consumers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass

import aiohttp
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from threadline.media import FilesystemMediaStore, S3MediaStore, media_store_from_env
from threadline.messaging.bus import EventBus, JetStreamBus
from threadline.messaging.connection import connect_nats
from threadline.messaging.consumer import ConsumerLoop, ConsumerSettings
from threadline.messaging.metrics import watch_jetstream
from threadline.messaging.readiness import nats_connected
from threadline.messaging.topology import (
    OUTBOUND_DISPATCH,
    OUTBOUND_MEDIA,
    OUTBOUND_TYPING,
    Topology,
    ensure_streams,
)
from threadline.outbound.adapters.inbound.consumer import DispatchHandler
from threadline.outbound.adapters.inbound.customer_media import media_handler
from threadline.outbound.adapters.inbound.typing_indicators import typing_handler
from threadline.outbound.adapters.outbound.graph_api import HttpGraphApi
from threadline.outbound.adapters.outbound.prometheus import PrometheusPacingMetrics
from threadline.outbound.adapters.outbound.publisher import (
    JetStreamAnnouncements,
    JetStreamMediaAnnouncements,
)
from threadline.outbound.adapters.outbound.sent_ledger import KeyValueSentLedger
from threadline.outbound.application.dispatcher import MessageDispatcher
from threadline.outbound.application.media_keeper import MediaKeeper
from threadline.outbound.application.ports import (
    AddressedMediaStore,
    GraphApi,
    GraphMedia,
    SentLedger,
)
from threadline.outbound.application.typing_indicators import TypingIndicators
from threadline.outbound.config import OutboundConfig
from threadline.outbound.domain.pacing import Pacer
from threadline.servicekit.background import Background, run_in_background
from threadline.servicekit.clock import Clock, utc_now
from threadline.servicekit.ops_http import OpsServer, ReadinessCheck

log = logging.getLogger(__name__)

SERVICE = "outbound"
GRAPH_API_TIMEOUT = 20.0  # seconds for one send, connection included
MAX_DELIVER = 5
BACKOFF = (1.0, 5.0, 15.0, 60.0)  # a throughput or pair rate limit needs seconds, not ms
# A typing indicator is worth something for 25 s (`SHOWN_FOR`): its own client, so it never
# takes a connection a send is waiting for, a shorter timeout, a few calls at once, and retries
# within those seconds (a later one is dropped as stale anyway).
TYPING_TIMEOUT = 10.0
TYPING_CONCURRENCY = 8
TYPING_BACKOFF = (0.5, 2.0, 5.0, 10.0)
# Customers' media: its own client too (a 100 MB download must not take a send's connection),
# a timeout for the whole of one download, a few at once; a Graph outage is retried for about
# a minute and a half (Meta's download URL lives 5 minutes, the media id 7 days).
MEDIA_TIMEOUT = 120.0
MEDIA_BACKOFF = (2.0, 10.0, 30.0, 60.0)
MEDIA_ACK_WAIT = 45.0


@dataclass(frozen=True)
class RunningOutbound:
    """What `bootstrap` started; the exit stack stops it."""

    nats: NatsClient
    bus: EventBus
    graph_api: GraphApi
    sent_ledger: SentLedger
    consumer: Background
    typing_consumer: Background
    media_consumer: Background
    ops: OpsServer


async def bootstrap(
    config: OutboundConfig,
    stack: AsyncExitStack,
    *,
    bus: EventBus | None = None,
    graph_api: GraphApi | None = None,
    sent_ledger: SentLedger | None = None,
    clock: Clock = utc_now,
    max_deliver: int = MAX_DELIVER,
    backoff: Sequence[float] = BACKOFF,
    typing_backoff: Sequence[float] = TYPING_BACKOFF,
    graph_media: GraphMedia | None = None,
    media_store: AddressedMediaStore | None = None,
    media_backoff: Sequence[float] = MEDIA_BACKOFF,
) -> RunningOutbound:
    """Connect, build and start everything, registering each stop on `stack`.

    The ports a test may swap: `bus` (where results and dead letters are published; JetStream
    by default), `graph_api` (HTTP to `config.graph_api_base_url` by default; a swapped one
    serves both consumers), `sent_ledger` (the KeyValue bucket by default), `graph_media` (HTTP
    like `graph_api`, on a client of its own), `media_store` (`threadline.media`'s from
    `config.media_env`, files under `config.media_root` by default) and `clock`."""
    client = await connect_nats(config.nats_url, SERVICE)
    stack.push_async_callback(client.drain)
    js = client.jetstream()
    topology = Topology(config.nats_namespace, partitions=config.session_partitions)
    await ensure_streams(js, topology, config.streams)
    checks: dict[str, ReadinessCheck] = {"nats": nats_connected(client)}
    if sent_ledger is None:
        ledger = await KeyValueSentLedger.open(js, namespace=config.nats_namespace)
        checks["sent_ledger"] = ledger.check()
        sent_ledger = ledger
    typing_graph_api: GraphApi
    if graph_api is None:
        graph_api = _http_graph_api(
            config, stack, timeout=GRAPH_API_TIMEOUT, connections=config.concurrency
        )
        typing_graph_api = _http_graph_api(
            config, stack, timeout=TYPING_TIMEOUT, connections=TYPING_CONCURRENCY
        )
    else:
        typing_graph_api = graph_api
    bus = bus if bus is not None else JetStreamBus(js)
    if media_store is None:
        media_store = _media_store(config)
    await stack.enter_async_context(media_store)
    dispatcher = MessageDispatcher(
        graph=graph_api,
        ledger=sent_ledger,
        announcements=JetStreamAnnouncements(bus, topology),
        clock=clock,
        pacer=Pacer(config.pacing),
        concurrency=config.concurrency,
        metrics=PrometheusPacingMetrics(),
        media_store=media_store,
        reply_pause=config.reply_pause,
    )

    durable = OUTBOUND_DISPATCH
    settings = ConsumerSettings.of(
        topology,
        durable,
        batch_size=config.concurrency * 2,
        max_deliver=max_deliver,
        backoff=backoff,
        # Two rounds of sends that all take the full Graph API timeout, and some room.
        ack_wait=GRAPH_API_TIMEOUT * 3,
    )
    handler = DispatchHandler(dispatcher, max_deliver=settings.max_deliver)
    loop = ConsumerLoop(
        js,
        dead_letters=bus,
        topology=topology,
        service=SERVICE,
        settings=settings,
        handler=handler,
    )
    # A batch being sent is finished (each send bounded by the Graph API timeout) before NATS
    # is drained.
    consumer = run_in_background(
        stack, durable.name, loop.run, stop=loop.stop, grace=GRAPH_API_TIMEOUT + 5
    )
    checks["consumer"] = consumer.check()
    typing_consumer = _start_typing_consumer(
        js,
        stack,
        topology=topology,
        bus=bus,
        indicators=TypingIndicators(graph=typing_graph_api, clock=clock),
        max_deliver=max_deliver,
        backoff=typing_backoff,
    )
    checks["typing_consumer"] = typing_consumer.check()
    if graph_media is None:
        graph_media = _http_graph_api(
            config, stack, timeout=MEDIA_TIMEOUT, connections=config.media_concurrency
        )
    media_consumer = _start_media_consumer(
        js,
        stack,
        topology=topology,
        bus=bus,
        concurrency=config.media_concurrency,
        keeper=MediaKeeper(
            graph=graph_media,
            store=media_store,
            announcements=JetStreamMediaAnnouncements(bus, topology),
            max_bytes=config.media_max_bytes,
            clock=clock,
        ),
        max_deliver=max_deliver,
        backoff=media_backoff,
    )
    checks["media_consumer"] = media_consumer.check()

    jetstream = watch_jetstream(stack, js, topology, SERVICE)
    ops = OpsServer(host=config.host, port=config.ops_port, checks=checks, refreshers=[jetstream])
    await ops.start()
    stack.push_async_callback(ops.stop)
    log.info(
        "outbound ops HTTP on %s:%d, sending to %s",
        config.host,
        ops.port,
        config.graph_api_base_url,
    )
    return RunningOutbound(
        nats=client,
        bus=bus,
        graph_api=graph_api,
        sent_ledger=sent_ledger,
        consumer=consumer,
        typing_consumer=typing_consumer,
        media_consumer=media_consumer,
        ops=ops,
    )


def _start_typing_consumer(
    js: JetStreamContext,
    stack: AsyncExitStack,
    *,
    topology: Topology,
    bus: EventBus,
    indicators: TypingIndicators,
    max_deliver: int,
    backoff: Sequence[float],
) -> Background:
    """The consumer of `OUTBOUND_TYPING`, beside (never in the way of) the dispatch consumer."""
    durable = OUTBOUND_TYPING
    settings = ConsumerSettings.of(
        topology,
        durable,
        batch_size=TYPING_CONCURRENCY * 2,
        max_deliver=max_deliver,
        backoff=backoff,
        ack_wait=TYPING_TIMEOUT * 3,
    )
    loop = ConsumerLoop(
        js,
        dead_letters=bus,
        topology=topology,
        service=SERVICE,
        settings=settings,
        handler=typing_handler(indicators, concurrency=TYPING_CONCURRENCY),
    )
    return run_in_background(
        stack, durable.name, loop.run, stop=loop.stop, grace=TYPING_TIMEOUT + 5
    )


def _start_media_consumer(
    js: JetStreamContext,
    stack: AsyncExitStack,
    *,
    topology: Topology,
    bus: EventBus,
    keeper: MediaKeeper,
    concurrency: int,
    max_deliver: int,
    backoff: Sequence[float],
) -> Background:
    """The consumer of `OUTBOUND_MEDIA`: customers' files kept, beside the other two."""
    durable = OUTBOUND_MEDIA
    settings = ConsumerSettings.of(
        topology,
        durable,
        batch_size=concurrency * 2,
        max_deliver=max_deliver,
        backoff=backoff,
        # Not the longest download: a message whose process died (SIGKILL, a crash) comes
        # back after `ack_wait`, and customers' files should not wait minutes for that. A
        # download outliving it is done again by the redelivery, harmlessly (the store is
        # content-addressed; the announcement's id makes it one).
        ack_wait=MEDIA_ACK_WAIT,
    )
    loop = ConsumerLoop(
        js,
        dead_letters=bus,
        topology=topology,
        service=SERVICE,
        settings=settings,
        handler=media_handler(keeper, concurrency=concurrency, max_deliver=settings.max_deliver),
    )
    # Not the full download timeout on stop: a download cut short is made again, whole, when
    # the message is redelivered (the store is content-addressed).
    return run_in_background(stack, durable.name, loop.run, stop=loop.stop, grace=30.0)


def _media_store(config: OutboundConfig) -> AddressedMediaStore:
    store = media_store_from_env(config.media_env, config.media_root)
    if not isinstance(store, FilesystemMediaStore | S3MediaStore):
        raise TypeError(f"media store {store!r} cannot name a location by hash")
    return store


def _http_graph_api(
    config: OutboundConfig, stack: AsyncExitStack, *, timeout: float, connections: int
) -> HttpGraphApi:
    http = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout),
        connector=aiohttp.TCPConnector(limit=connections),
    )
    stack.push_async_callback(http.close)
    return HttpGraphApi(
        http,
        base_url=config.graph_api_base_url,
        version=config.graph_api_version,
        access_token=config.access_token,
    )
