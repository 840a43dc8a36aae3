"""The one place that builds the session service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import nats
from nats.aio.client import Client as NatsClient

from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.messaging.bus import JetStreamBus
from threadline.messaging.consumer import ConsumerLoop, ConsumerSettings
from threadline.messaging.readiness import nats_connected
from threadline.messaging.relay import OutboxRelay
from threadline.messaging.topology import SESSION_EVENTS, Topology, ensure_streams
from threadline.servicekit.auth import TokenRegistry
from threadline.servicekit.clock import Clock, utc_now
from threadline.servicekit.grpc_kit import Registration, start_grpc_server
from threadline.servicekit.ops_http import OpsServer
from threadline.session.application.conversations import Conversations
from threadline.session.auto_resolution import AutoResolver
from threadline.session.config import SessionConfig
from threadline.session.consumers import SOURCES, FactRecorder
from threadline.session.grpc_api import ERRORS, RULES, EventLogServicer, SessionCommandsServicer
from threadline.session.outbox import StoredEvents
from threadline.session.writer import EventStoreWriter


@dataclass
class SessionService:
    app: Conversations
    relay: OutboxRelay
    auto_resolver: AutoResolver
    grpc_port: int
    ops_port: int
    nats: NatsClient


async def bootstrap(
    config: SessionConfig, stack: AsyncExitStack, *, clock: Clock = utc_now
) -> SessionService:
    """Connect, start consumers, relay, gRPC and ops; `stack` unwinds them in reverse."""
    topology = Topology(config.nats_namespace)
    app = await asyncio.to_thread(Conversations, config.event_store_env(), clock=clock)
    stack.callback(app.close)
    nc = await nats.connect(config.nats_url, name="threadline-session", max_reconnect_attempts=-1)
    stack.push_async_callback(nc.drain)
    js = nc.jetstream()
    await ensure_streams(js, topology, config.streams)
    bus = JetStreamBus(js)

    # An event the relay cannot publish is dead-lettered on dlq.session.unpublishable and
    # counted (threadline_relay_events_total{outcome="dead_lettered"} on /metrics).
    relay = OutboxRelay(
        StoredEvents(app, topology),
        bus,
        js,
        topology.stream(SESSION_EVENTS),
        topology=topology,
        service="session",
    )
    writer = EventStoreWriter(app, on_stored=relay.wake)
    stack.callback(writer.close)
    _background(stack, relay.run(), relay.stop)

    resolver = AutoResolver(writer, interval=config.auto_resolve_interval)
    _background(stack, resolver.run(), resolver.stop)

    recorder = FactRecorder(writer)
    for durable, stream, root in SOURCES:
        loop = ConsumerLoop(
            js=js,
            dead_letters=bus,
            topology=topology,
            service="session",
            handler=recorder,
            settings=ConsumerSettings(
                stream=topology.stream(stream),
                durable=durable,
                filter_subject=f"{topology.subject(root)}.>",
                batch_size=config.batch_size,
            ),
        )
        _background(stack, loop.run(), loop.stop)

    server, grpc_port = await start_grpc_server(
        host=config.host,
        port=config.grpc_port,
        tokens=TokenRegistry.parse(config.api_tokens),
        errors=ERRORS,
        rules=RULES,
        registrations=[
            Registration(
                pb_grpc.add_SessionCommandsServicer_to_server,
                SessionCommandsServicer(writer),
                "threadline.session.v1.SessionCommands",
            ),
            Registration(
                pb_grpc.add_EventLogServicer_to_server,
                EventLogServicer(app),
                "threadline.session.v1.EventLog",
            ),
        ],
    )
    stack.push_async_callback(server.stop, 2.0)

    ops = OpsServer(host=config.host, port=config.ops_port, checks={"nats": nats_connected(nc)})
    await ops.start()
    stack.push_async_callback(ops.stop)
    return SessionService(
        app=app,
        relay=relay,
        auto_resolver=resolver,
        grpc_port=grpc_port,
        ops_port=ops.port,
        nats=nc,
    )


def _background(stack: AsyncExitStack, work: Awaitable[None], stop: object) -> None:
    task = asyncio.ensure_future(work)

    async def finish() -> None:
        if callable(stop):
            stop()
        try:
            await asyncio.wait_for(task, 5.0)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()

    stack.push_async_callback(finish)
