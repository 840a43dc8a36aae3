"""The one place that builds the AI responder: NATS, the model, the use case, its consumer."""

from __future__ import annotations

import logging
import os
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta

import grpc
from nats.aio.client import Client as NatsClient

from threadline.ai_responder.adapters.inbound.consumer import (
    CONCURRENCY,
    DraftOnCustomerMessage,
    conversation_of,
)
from threadline.ai_responder.adapters.outbound.conversation_history import (
    SessionConversationHistory,
)
from threadline.ai_responder.adapters.outbound.models import ModelSettings, model_for
from threadline.ai_responder.adapters.outbound.publisher import JetStreamReplies
from threadline.ai_responder.application.ports import (
    AssistantModel,
    ConversationHistory,
    NoConversationHistory,
)
from threadline.ai_responder.application.responder import AnswerCustomerMessage, Responder
from threadline.ai_responder.config import AiResponderConfig
from threadline.messaging.bus import EventBus, JetStreamBus
from threadline.messaging.connection import connect_nats
from threadline.messaging.consumer import ConsumerLoop, ConsumerSettings, concurrently_by_key
from threadline.messaging.readiness import nats_connected
from threadline.messaging.topology import AI_RESPONDER_REPLIES, Topology, ensure_streams
from threadline.servicekit.background import Background, run_in_background
from threadline.servicekit.clock import Clock, utc_now
from threadline.servicekit.ops_http import OpsServer

log = logging.getLogger(__name__)

SERVICE = "ai_responder"


@dataclass(frozen=True)
class RunningAiResponder:
    """What `bootstrap` started; the exit stack stops it."""

    nats: NatsClient
    bus: EventBus
    model: AssistantModel
    history: ConversationHistory
    consumer: Background
    ops: OpsServer


async def bootstrap(
    config: AiResponderConfig,
    stack: AsyncExitStack,
    *,
    bus: EventBus | None = None,
    model: AssistantModel | None = None,
    history: ConversationHistory | None = None,
    clock: Clock = utc_now,
) -> RunningAiResponder:
    """Connect, build and start everything, registering each stop on `stack`.

    `bus` is where answers (and dead letters) are published: JetStream unless a test passes
    its own; `model` the assistant's model (by default `config.model`, built here from the
    process environment's provider settings and closed with the stack); `history` where the
    conversation's history is read (by default the session's event log at
    `config.session_grpc_address`, or nothing but the current message without a token)."""
    topology = Topology(config.nats_namespace)
    client = await connect_nats(config.nats_url, SERVICE)
    stack.push_async_callback(client.drain)
    js = client.jetstream()
    await ensure_streams(js, topology, config.streams)
    bus = bus if bus is not None else JetStreamBus(js)
    if model is None:
        settings = ModelSettings(config.model_timeout_seconds, config.model_max_retries)
        model = model_for(config.model, os.environ, settings)
        stack.push_async_callback(model.close)
    if history is None:
        history = _session_history(config, stack)
    responder = Responder(
        model,
        clock=clock,
        stale_after=timedelta(seconds=config.stale_after_seconds),
        system_prompt=config.system_prompt,
        history=history,
        max_context_tokens=config.max_context_tokens,
    )
    answer = AnswerCustomerMessage(responder, JetStreamReplies(bus, topology))
    durable = AI_RESPONDER_REPLIES
    loop = ConsumerLoop(
        js=js,
        dead_letters=bus,
        topology=topology,
        service=SERVICE,
        handler=concurrently_by_key(
            DraftOnCustomerMessage(answer), key_of=conversation_of, limit=CONCURRENCY
        ),
        settings=ConsumerSettings.of(topology, durable),
    )
    consumer = run_in_background(stack, durable.name, loop.run, stop=loop.stop)

    ops = OpsServer(
        host=config.host,
        port=config.ops_port,
        checks={"nats": nats_connected(client), "consumer": consumer.check()},
    )
    await ops.start()
    stack.push_async_callback(ops.stop)
    log.info("ai_responder ops on %s:%d", config.host, ops.port)
    return RunningAiResponder(
        nats=client, bus=bus, model=model, history=history, consumer=consumer, ops=ops
    )


def _session_history(config: AiResponderConfig, stack: AsyncExitStack) -> ConversationHistory:
    """The session's event log, through a channel `stack` closes; without a token to read it
    with, no history (the assistant reads only the message it answers)."""
    if not config.session_token:
        log.info("no THREADLINE_AI_SESSION_TOKEN: the assistant reads no conversation history")
        return NoConversationHistory()
    channel = grpc.aio.insecure_channel(config.session_grpc_address)
    stack.push_async_callback(channel.close)
    return SessionConversationHistory(channel, config.session_token)
