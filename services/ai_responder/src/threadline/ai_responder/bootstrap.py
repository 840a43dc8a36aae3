"""The one place that builds the AI responder."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import timedelta

import nats

from threadline.ai_responder.application import Responder
from threadline.ai_responder.config import ResponderConfig
from threadline.ai_responder.consumers import DURABLE, DraftOnCustomerMessage
from threadline.ai_responder.model import LanguageModel, OfflineModel
from threadline.messaging.bus import JetStreamBus
from threadline.messaging.consumer import ConsumerLoop, ConsumerSettings, one_at_a_time
from threadline.messaging.readiness import nats_connected
from threadline.messaging.topology import SESSION_EVENTS, Topology, ensure_streams
from threadline.servicekit.clock import Clock, utc_now
from threadline.servicekit.ops_http import OpsServer


async def bootstrap(
    config: ResponderConfig,
    stack: AsyncExitStack,
    *,
    model: LanguageModel | None = None,
    clock: Clock = utc_now,
) -> OpsServer:
    topology = Topology(config.nats_namespace)
    nc = await nats.connect(
        config.nats_url, name="threadline-ai_responder", max_reconnect_attempts=-1
    )
    stack.push_async_callback(nc.drain)
    js = nc.jetstream()
    await ensure_streams(js, topology, config.streams)
    bus = JetStreamBus(js)
    responder = Responder(
        model or OfflineModel(),
        clock=clock,
        stale_after=timedelta(seconds=config.stale_after_seconds),
    )
    loop = ConsumerLoop(
        js=js,
        dead_letters=bus,
        topology=topology,
        service="ai_responder",
        handler=one_at_a_time(DraftOnCustomerMessage(responder, bus, topology)),
        settings=ConsumerSettings(
            stream=topology.stream(SESSION_EVENTS),
            durable=DURABLE,
            filter_subject=topology.subject(
                "session.events", "Conversation", "CustomerMessageReceived"
            ),
        ),
    )
    task = asyncio.create_task(loop.run())

    async def stop_loop() -> None:
        loop.stop()
        await asyncio.wait([task], timeout=5.0)
        task.cancel()

    stack.push_async_callback(stop_loop)

    ops = OpsServer(host=config.host, port=config.ops_port, checks={"nats": nats_connected(nc)})
    await ops.start()
    stack.push_async_callback(ops.stop)
    return ops
