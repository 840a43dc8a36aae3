"""The one place that builds the session service."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta

from nats.aio.client import Client as NatsClient

from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.media import media_store_from_env
from threadline.messaging.bus import JetStreamBus
from threadline.messaging.connection import connect_nats
from threadline.messaging.key_value import open_bucket
from threadline.messaging.leases import LeaseKeeper, LeaseSettings, holder_id
from threadline.messaging.metrics import RelayLag, watch_jetstream
from threadline.messaging.readiness import nats_connected
from threadline.messaging.relay import UNPUBLISHABLE, OutboxRelay
from threadline.messaging.token_follower import follow_managed_tokens
from threadline.messaging.topology import SESSION_EVENTS, Topology, durables_of, ensure_streams
from threadline.servicekit.auth import TokenRegistry
from threadline.servicekit.background import Background, run_in_background
from threadline.servicekit.clock import Clock, utc_now
from threadline.servicekit.grpc_kit import Registration, start_grpc_server
from threadline.servicekit.ops_http import OpsServer
from threadline.session.adapters.inbound.duties import CurrentRelay, SessionDuties
from threadline.session.adapters.inbound.grpc_api import (
    ERRORS,
    EventLogServicer,
    SessionCommandsServicer,
)
from threadline.session.adapters.inbound.request_rules import RULES
from threadline.session.adapters.outbound.event_store import store_reachable
from threadline.session.adapters.outbound.outbox import StoredEvents
from threadline.session.adapters.outbound.writer import EventStoreWriter
from threadline.session.application.auto_resolution import AutoResolver
from threadline.session.application.conversations import Conversations
from threadline.session.config import SessionConfig

log = logging.getLogger("threadline.session")
SERVICE = "session"
LEASES_BUCKET = "session_leases"


@dataclass(frozen=True)
class RunningSession:
    """The running service: its application and loops, its ports, its NATS connection."""

    app: Conversations
    writer: EventStoreWriter
    duties: SessionDuties  # what runs here: the partitions (with their relays) it holds
    keeper: LeaseKeeper
    grpc_port: int
    ops_port: int
    nats: NatsClient

    @property
    def relay(self) -> OutboxRelay:
        """The relay of partition 0 (with one partition: of the whole log), when this
        instance holds the partition."""
        return self.relay_of(0)

    def relay_of(self, partition: int) -> OutboxRelay:
        """The relay of `partition`, when this instance holds it."""
        relay = self.duties.relays.get(partition)
        if relay is None:
            raise LookupError(f"this instance does not hold partition {partition}")
        return relay

    @property
    def auto_resolver(self) -> AutoResolver:
        """The auto-resolver, when this instance holds its lease."""
        if self.duties.resolver is None:
            raise LookupError("this instance does not hold the auto-resolver's lease")
        return self.duties.resolver

    @property
    def loops(self) -> tuple[Background, ...]:
        """The loops running here: the auto-resolver, then each partition's relay and
        consumers."""
        return self.duties.loops


async def bootstrap(
    config: SessionConfig, stack: AsyncExitStack, *, clock: Clock = utc_now
) -> RunningSession:
    """Connect, start consumers, relay, gRPC and ops; `stack` unwinds them in reverse."""
    topology = Topology(config.nats_namespace, partitions=config.session_partitions)
    app = await asyncio.to_thread(
        Conversations, config.event_store_env(), clock=clock, validate_reads=config.check_reads
    )
    stack.callback(app.close)
    nc = await connect_nats(config.nats_url, SERVICE)
    stack.push_async_callback(nc.drain)
    js = nc.jetstream()
    await ensure_streams(js, topology, config.streams)
    bus = JetStreamBus(js)

    # The relay of one partition (with one: of the whole log). An event it cannot publish is
    # dead-lettered on dlq.session.unpublishable (`unpublishable-p<k>` with several
    # partitions) and counted (threadline_relay_events_total{outcome="dead_lettered"}).
    def make_relay(partition: int) -> OutboxRelay:
        several = topology.partitions > 1
        return OutboxRelay(
            StoredEvents(app, topology, partition),
            bus,
            js,
            topology.stream(SESSION_EVENTS),
            topology=topology,
            service=SERVICE,
            subjects=topology.relayed_in(partition) if several else None,
            dead_letter_slug=f"{UNPUBLISHABLE}-p{partition}" if several else UNPUBLISHABLE,
        )

    # What is stored wakes the relay, when it runs here.
    writer = EventStoreWriter(app, on_stored=lambda slots: duties.wake_relay(slots))
    stack.callback(writer.close)
    duties = SessionDuties(
        js=js,
        bus=bus,
        topology=topology,
        writer=writer,
        make_relay=make_relay,
        auto_resolve_interval=config.auto_resolve_interval,
        batch_size=config.batch_size,
    )

    media_store = media_store_from_env(config.media_env, config.media_root)
    stack.push_async_callback(media_store.close)
    tokens = await follow_managed_tokens(
        stack, js, topology, TokenRegistry.parse(config.api_tokens), SERVICE
    )
    server, grpc_port = await start_grpc_server(
        host=config.host,
        port=config.grpc_port,
        tokens=tokens.registry,
        errors=ERRORS,
        rules=RULES,
        registrations=[
            Registration(
                pb_grpc.add_SessionCommandsServicer_to_server,
                SessionCommandsServicer(writer, media_store),
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

    # Each partition of the facts, and the relay, is done by one instance at a time: the
    # first round takes this instance's share before the service says it is up (after its
    # gRPC port is bound: no other live process here has its name).
    bucket = await open_bucket(
        js,
        LEASES_BUCKET,
        namespace=config.nats_namespace,
        keep_for=timedelta(seconds=config.lease_seconds),
        description="Which session instance holds each partition of the facts and the relay",
    )
    keeper = LeaseKeeper(
        bucket,
        duties.table(),
        label=LEASES_BUCKET,
        # Named by the gRPC port it has bound when that is fixed: restarted in place, it
        # finds its leases its own at once (`holder_id`).
        holder=holder_id(f"grpc{grpc_port}") if config.grpc_port else holder_id(),
        settings=LeaseSettings(config.lease_seconds),
    )
    await keeper.keep()
    leases = run_in_background(stack, "leases", keeper.run, stop=keeper.stop, grace=15.0)

    # Ready when everything the session depends on is: its database, NATS, and every loop.
    checks = {"database": store_reachable(app.recorder), "nats": nats_connected(nc)}
    checks |= {
        "leases": leases.check(),
        "relay": duties.relay_check(),
        "partitions": duties.partitions_check(),
    }
    checks["api_tokens"] = tokens.check()
    # /metrics: its consumers' lag, its dead letters, and the relay's lag behind the store.
    relay = CurrentRelay(duties, topology.stream(SESSION_EVENTS))
    head = RelayLag(relay, lambda: app.recorder.max_notification_id() or 0)
    # Every partition's consumers: their lag is the platform's, whichever instance holds them.
    jetstream = watch_jetstream(
        stack,
        js,
        topology,
        SERVICE,
        relay=head,
        durables=durables_of(SERVICE, topology.partitions),
    )
    ops = OpsServer(host=config.host, port=config.ops_port, checks=checks, refreshers=[jetstream])
    await ops.start()
    stack.push_async_callback(ops.stop)
    log.info("session gRPC on :%d, ops on :%d", grpc_port, ops.port)
    return RunningSession(
        app=app,
        writer=writer,
        duties=duties,
        keeper=keeper,
        grpc_port=grpc_port,
        ops_port=ops.port,
        nats=nc,
    )
