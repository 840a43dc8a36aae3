"""What each reply cost (issue 10 item 8): a draft's usage is stored with the message it queues
and relayed on SESSION_EVENTS; a generation the assistant discarded is recorded once on its
conversation; the typing indicator the AI responder asks outbound for is let by, unrecorded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from uuid import UUID, uuid4

import grpc
import pytest
from nats.js import JetStreamContext

from threadline.contracts.events.v1 import ai_pb2, common_pb2, ingest_pb2
from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.messaging.consumer import filters_several
from threadline.messaging.topology import (
    AI_EVENTS,
    DEAD_LETTERS,
    GENERATION_DISCARDED,
    INBOUND_MESSAGE_RECEIVED,
    REPLY_DRAFTED,
    SESSION_DRAFTS,
    SESSION_EVENTS,
    TYPING_INDICATOR_REQUESTED,
    Topology,
)
from threadline.servicekit.auth import hash_token
from threadline.session.adapters.integration_events.incoming_facts import (
    NotRecorded,
    decode_fact,
)
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import DiscardedGeneration, DraftedReply, InboundMessage
from threadline.session.application.outcomes import APPLIED, Ignored, Rejected
from threadline.session.bootstrap import RunningSession, bootstrap
from threadline.session.config import SessionConfig
from threadline.session.domain.contact import Contact
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.identity import contact_id
from threadline.testing import eventually
from threadline.testing.clock import FakeClock

InboundFactory = Callable[..., InboundMessage]
ConfigFactory = Callable[..., SessionConfig]
TOKEN = "usage-test-token"


def open_conversation(app: Conversations, inbound: InboundFactory, wa_id: str) -> UUID:
    app.record_facts([inbound(wa_id=wa_id)])
    contact = app.repository.get(contact_id("pn-1", wa_id, ""))
    assert isinstance(contact, Contact) and contact.open_conversation_id is not None
    return contact.open_conversation_id


def discarded(conversation_id: UUID, generation_id: str = "gen-1") -> DiscardedGeneration:
    return DiscardedGeneration(
        generation_id=generation_id,
        conversation_id=conversation_id,
        model="openai:gpt-4.1-mini",
        prompt_tokens=1000,
        completion_tokens=200,
        cached_tokens=400,
        latency_ms=900,
        assistant="salon",
        assistant_version=3,
        cost="0.0006",
        covered_message_ids=("m-1", "m-2"),
    )


def stored_events(app: Conversations, conversation_id: UUID) -> list[object]:
    return list(app.events.get(conversation_id))


# In the application -----------------------------------------------------------------------------


def test_a_drafts_usage_is_stored_with_the_message_it_queues(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id = open_conversation(app, inbound, "15558000001")
    draft = DraftedReply(
        draft_id="draft-m-2",
        conversation_id=conversation_id,
        in_reply_to_message_id="m-2",
        content={"type": "text", "text": "We open at nine."},
        model="anthropic:claude-sonnet-4-5",
        prompt_tokens=1000,
        completion_tokens=200,
        cached_tokens=400,
        latency_ms=1234,
        assistant="salon",
        assistant_version=3,
        cost="0.00492",
        covered_message_ids=("m-1", "m-2"),
    )

    assert app.record_facts([draft]) == [APPLIED]

    (queued,) = [
        e
        for e in stored_events(app, conversation_id)
        if isinstance(e, Conversation.OutboundMessageQueued)
    ]
    assert (queued.model, queued.prompt_tokens, queued.completion_tokens) == (
        "anthropic:claude-sonnet-4-5",
        1000,
        200,
    )
    assert (queued.cached_tokens, queued.latency_ms, queued.cost) == (400, 1234, "0.00492")
    assert (queued.assistant, queued.assistant_version) == ("salon", 3)
    assert list(queued.covered_message_ids) == ["m-1", "m-2"]


def test_a_discarded_generation_is_recorded_once_however_often_it_arrives(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id = open_conversation(app, inbound, "15558000002")

    first = app.record_facts([discarded(conversation_id), discarded(conversation_id)])
    again = app.record_facts([discarded(conversation_id)])
    other = app.record_facts([discarded(conversation_id, "gen-2")])

    assert first[0] == APPLIED and isinstance(first[1], Ignored)
    assert isinstance(again[0], Ignored) and "gen-1 already recorded" in again[0].reason
    assert other == [APPLIED]
    recorded = [
        e
        for e in stored_events(app, conversation_id)
        if isinstance(e, Conversation.AssistantGenerationDiscarded)
    ]
    assert [e.generation_id for e in recorded] == ["gen-1", "gen-2"]
    assert (recorded[0].cost, recorded[0].cached_tokens, recorded[0].assistant_version) == (
        "0.0006",
        400,
        3,
    )


def test_a_discarded_generation_counts_after_an_operator_took_over(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id = open_conversation(app, inbound, "15558000003")
    app.hand_off(conversation_id, reason="a person answers", by="agent")

    assert app.record_facts([discarded(conversation_id)]) == [APPLIED]


def test_a_discarded_generation_of_an_unknown_conversation_is_refused_as_a_draft_is(
    app: Conversations,
) -> None:
    unknown = uuid4()
    draft = DraftedReply(
        draft_id="d-unknown",
        conversation_id=unknown,
        in_reply_to_message_id="",
        content={"type": "text", "text": "Hi"},
    )

    outcomes = app.record_facts([draft, discarded(unknown)])

    assert all(isinstance(o, Rejected) for o in outcomes)
    assert [o.slug for o in outcomes if isinstance(o, Rejected)] == ["ConversationNotFound"] * 2


# Decoding ----------------------------------------------------------------------------------------


def test_a_discarded_generation_decodes_with_its_usage() -> None:
    conversation_id = uuid4()
    event = ai_pb2.GenerationDiscarded(
        generation_id="gen-9",
        conversation_id=str(conversation_id),
        model="openai:gpt-4.1-mini",
        assistant="salon",
        assistant_version=2,
        prompt_tokens=10,
        completion_tokens=5,
        cached_tokens=4,
        cost="0.0000123",
        latency_ms=70,
        covered_message_ids=["m-1"],
    )

    fact = decode_fact(
        "ai_responder.events.Conversation.GenerationDiscarded", event.SerializeToString()
    )

    assert fact == DiscardedGeneration(
        generation_id="gen-9",
        conversation_id=conversation_id,
        model="openai:gpt-4.1-mini",
        prompt_tokens=10,
        completion_tokens=5,
        cached_tokens=4,
        latency_ms=70,
        assistant="salon",
        assistant_version=2,
        cost="0.0000123",
        covered_message_ids=("m-1",),
    )


@pytest.mark.parametrize("cost", ["abc", "-0.1", "NaN", "Infinity", "1e"])
def test_a_cost_that_is_no_amount_is_kept_as_not_priced(cost: str) -> None:
    event = ai_pb2.ReplyDrafted(draft_id="d-1", conversation_id=str(uuid4()), cost=cost)

    fact = decode_fact("ai_responder.events.Conversation.ReplyDrafted", event.SerializeToString())

    assert isinstance(fact, DraftedReply) and fact.cost == ""


def test_a_typing_indicator_is_not_a_fact_the_session_records() -> None:
    event = ai_pb2.TypingIndicatorRequested(request_id="t-1", conversation_id=str(uuid4()))

    with pytest.raises(NotRecorded):
        decode_fact(
            "ai_responder.events.Conversation.TypingIndicatorRequested", event.SerializeToString()
        )


# The service over real NATS and PostgreSQL -------------------------------------------------------


@pytest.fixture
async def service(
    session_config: ConfigFactory, service_clock: FakeClock
) -> AsyncIterator[RunningSession]:
    config = session_config(api_tokens=f"{hash_token(TOKEN)}:read,write,admin:*")
    async with AsyncExitStack() as stack:
        yield await bootstrap(config, stack, clock=service_clock)


async def publish(js: JetStreamContext, subject: str, data: bytes, msg_id: str) -> None:
    await js.publish(subject, data, headers={"Nats-Msg-Id": msg_id})


async def started_conversation(
    service: RunningSession, js: JetStreamContext, topology: Topology, wa_id: str
) -> str:
    fact = ingest_pb2.InboundMessageReceived(
        wamid=f"wamid.{uuid4().hex}",
        phone_number_id="pn-usage",
        customer=common_pb2.CustomerIdentity(wa_id=wa_id, profile_name="Ana"),
        content=common_pb2.MessageContent(type="text", text="hello"),
    )
    fact.sent_at.FromDatetime(datetime.now(UTC))
    fact.received_at.FromDatetime(datetime.now(UTC))
    subject = topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id="pn-usage")
    await publish(js, subject, fact.SerializeToString(), fact.wamid)

    async def started() -> str | None:
        return next(
            (
                e.aggregate_id
                for e in await relayed(js, topology)
                if e.HasField("conversation_started")
            ),
            None,
        )

    await eventually(started)
    found = await started()
    assert found is not None
    return found


async def relayed(js: JetStreamContext, topology: Topology) -> list[events_pb.SessionEvent]:
    stream = topology.stream(SESSION_EVENTS)
    info = await js.stream_info(stream)
    return [
        events_pb.SessionEvent.FromString((await js.get_msg(stream, seq)).data)
        for seq in range(1, info.state.last_seq + 1)
    ]


async def drafts_settled(js: JetStreamContext, topology: Topology, delivered: int) -> bool:
    info = await js.consumer_info(topology.stream(AI_EVENTS), SESSION_DRAFTS.name)
    return (info.num_pending, info.num_ack_pending, info.delivered.stream_seq) == (
        0,
        0,
        delivered,
    )


async def dead_letters(js: JetStreamContext, topology: Topology) -> list[str]:
    stream = topology.stream(DEAD_LETTERS)
    info = await js.stream_info(stream)
    return [(await js.get_msg(stream, seq)).subject for seq in range(1, info.state.last_seq + 1)]


async def test_a_drafts_usage_travels_on_session_events_and_reads_back_from_the_log(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    conversation_id = await started_conversation(service, js, topology, "15558000010")
    draft = ai_pb2.ReplyDrafted(
        draft_id="draft-usage-1",
        conversation_id=conversation_id,
        in_reply_to_message_id="m-2",
        content=common_pb2.MessageContent(type="text", text="We open at nine."),
        model="openai:gpt-4.1-mini",
        prompt_tokens=1000,
        completion_tokens=200,
        cached_tokens=400,
        latency_ms=812,
        assistant="salon",
        assistant_version=3,
        cost="0.0006",
        covered_message_ids=["m-1", "m-2"],
    )

    await publish(js, topology.publish_subject(REPLY_DRAFTED), draft.SerializeToString(), "d-1")

    async def queued() -> list[events_pb.SessionEvent]:
        return [e for e in await relayed(js, topology) if e.HasField("outbound_message_queued")]

    await eventually(queued)
    (event,) = await queued()
    body = event.outbound_message_queued
    assert (body.model, body.prompt_tokens, body.completion_tokens, body.cached_tokens) == (
        "openai:gpt-4.1-mini",
        1000,
        200,
        400,
    )
    assert (body.latency_ms, body.assistant, body.assistant_version, body.cost) == (
        812,
        "salon",
        3,
        "0.0006",
    )
    assert list(body.covered_message_ids) == ["m-1", "m-2"]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        log = pb_grpc.EventLogStub(channel)
        auth = (("authorization", f"Bearer {TOKEN}"),)
        stored = [e async for e in log.ReadAll(pb.ReadAllRequest(from_position=1), metadata=auth)]
    (from_log,) = [e for e in stored if e.HasField("outbound_message_queued")]
    assert from_log.outbound_message_queued == body


async def test_a_discarded_generation_is_recorded_once_and_relayed(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    conversation_id = await started_conversation(service, js, topology, "15558000011")
    event = ai_pb2.GenerationDiscarded(
        generation_id="gen-c-1",
        conversation_id=conversation_id,
        model="anthropic:claude-sonnet-4-5",
        assistant="salon",
        assistant_version=3,
        prompt_tokens=1000,
        completion_tokens=200,
        cached_tokens=400,
        cost="0.00492",
        latency_ms=1500,
        covered_message_ids=["m-1"],
    )
    subject = topology.publish_subject(GENERATION_DISCARDED)

    # The second as a redelivery would come after JetStream's duplicate window: another id.
    await publish(js, subject, event.SerializeToString(), "gen-c-1")
    await publish(js, subject, event.SerializeToString(), "gen-c-1-again")

    async def discards() -> list[events_pb.SessionEvent]:
        return [
            e for e in await relayed(js, topology) if e.HasField("assistant_generation_discarded")
        ]

    await eventually(lambda: drafts_settled(js, topology, 2))
    await eventually(discards)
    stored = stored_events(service.app, UUID(conversation_id))
    assert [type(e).__name__ for e in stored].count("AssistantGenerationDiscarded") == 1
    (recorded,) = await discards()
    assert (recorded.aggregate_id, recorded.event_type) == (
        conversation_id,
        "Conversation.AssistantGenerationDiscarded",
    )
    body = recorded.assistant_generation_discarded
    assert (body.generation_id, body.cost, body.prompt_tokens, body.cached_tokens) == (
        "gen-c-1",
        "0.00492",
        1000,
        400,
    )
    assert (body.model, body.assistant, body.assistant_version, body.latency_ms) == (
        "anthropic:claude-sonnet-4-5",
        "salon",
        3,
        1500,
    )
    assert list(body.covered_message_ids) == ["m-1"]
    assert await dead_letters(js, topology) == []


async def test_a_discarded_generation_of_an_unknown_conversation_is_dead_lettered_as_a_draft_is(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    unknown = str(uuid4())
    draft = ai_pb2.ReplyDrafted(draft_id="d-unknown", conversation_id=unknown)
    discard = ai_pb2.GenerationDiscarded(generation_id="gen-unknown", conversation_id=unknown)

    await publish(js, topology.publish_subject(REPLY_DRAFTED), draft.SerializeToString(), "d")
    await publish(
        js, topology.publish_subject(GENERATION_DISCARDED), discard.SerializeToString(), "g"
    )

    await eventually(lambda: drafts_settled(js, topology, 2))
    slug = topology.dead_letter_subject("session", "ConversationNotFound")
    assert await dead_letters(js, topology) == [slug, slug]


async def test_a_typing_indicator_is_never_recorded(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    """Where the server filters on several subjects (NATS 2.10+) `session-drafts` is bound to
    the facts it records and the typing indicator never reaches it; where it does not (2.9),
    it is acknowledged without being recorded."""
    topology = Topology(nats_namespace)
    conversation_id = await started_conversation(service, js, topology, "15558000012")
    stored_before = service.app.recorder.max_notification_id()
    typing = ai_pb2.TypingIndicatorRequested(
        request_id="typing-1",
        conversation_id=conversation_id,
        phone_number_id="pn-usage",
        wamid="wamid.x",
    )

    await publish(
        js,
        topology.publish_subject(TYPING_INDICATOR_REQUESTED),
        typing.SerializeToString(),
        "typing-1",
    )

    if filters_several(js):
        info = await js.consumer_info(topology.stream(AI_EVENTS), SESSION_DRAFTS.name)
        stored = await js.stream_info(topology.stream(AI_EVENTS))
        assert stored.state.last_seq == 1  # kept on the stream (for outbound) ...
        assert (info.num_pending, info.delivered.consumer_seq) == (0, 0)  # ... not for us
    else:
        await eventually(lambda: drafts_settled(js, topology, 1))
    assert service.app.recorder.max_notification_id() == stored_before
    assert await dead_letters(js, topology) == []
