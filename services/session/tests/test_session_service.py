"""The session service over real NATS JetStream and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from uuid import uuid4

import grpc
import nats
import pytest
from nats.js import JetStreamContext

from threadline.contracts.events.v1 import ai_pb2, common_pb2, ingest_pb2
from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.messaging.relay import POSITION
from threadline.messaging.topology import SESSION_EVENTS, Topology
from threadline.servicekit.auth import hash_token
from threadline.session.bootstrap import SessionService, bootstrap
from threadline.session.config import SessionConfig
from threadline.testing import eventually

TOKEN = "session-test-token"
# A first message stores: the contact, its open conversation, the claim of its wa_id, the
# business number, the conversation and the message.
FIRST_MESSAGE_EVENTS = 6


@pytest.fixture
async def service(
    nats_server_url: str, database_url: str, nats_namespace: str
) -> AsyncIterator[SessionService]:
    config = SessionConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        database_url=database_url,
        api_tokens=f"{hash_token(TOKEN)}:read,write,admin:*",
        grpc_port=0,
        ops_port=0,
    )
    async with AsyncExitStack() as stack:
        yield await bootstrap(config, stack)


@pytest.fixture
async def js(nats_server_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server_url)
    yield nc.jetstream()
    await nc.close()


def inbound_fact(wa_id: str, text: str = "hello") -> ingest_pb2.InboundMessageReceived:
    fact = ingest_pb2.InboundMessageReceived(
        wamid=f"wamid.{uuid4().hex}",
        phone_number_id="pn-7",
        customer=common_pb2.CustomerIdentity(wa_id=wa_id, profile_name="Ana"),
        content=common_pb2.MessageContent(type="text", text=text),
    )
    fact.sent_at.FromDatetime(datetime.now(UTC))
    fact.received_at.FromDatetime(datetime.now(UTC))
    return fact


async def session_events(js: JetStreamContext, topology: Topology) -> list[tuple[str, int]]:
    stream = topology.stream(SESSION_EVENTS)
    info = await js.stream_info(stream)
    found = []
    for seq in range(1, info.state.last_seq + 1):
        message = await js.get_msg(stream, seq)
        found.append(
            (
                message.subject.rsplit(".", 2)[-2] + "." + message.subject.rsplit(".")[-1],
                int((message.headers or {})[POSITION]),
            )
        )
    return found


async def test_an_inbound_fact_is_stored_and_relayed_in_order(
    service: SessionService, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    fact = inbound_fact("15557000001")

    await js.publish(
        topology.subject("ingest.events", "pn-7", "InboundMessageReceived"),
        fact.SerializeToString(),
        headers={"Nats-Msg-Id": fact.wamid},
    )

    async def relayed() -> bool:
        return len(await session_events(js, topology)) == FIRST_MESSAGE_EVENTS

    await eventually(relayed)
    events = await session_events(js, topology)
    assert [name for name, _ in events] == [
        "Contact.Registered",
        "Contact.ConversationOpened",
        "ContactKey.Claimed",
        "BusinessNumber.Registered",
        "Conversation.Started",
        "Conversation.CustomerMessageReceived",
    ]
    positions = [position for _, position in events]
    assert positions == sorted(positions) and len(set(positions)) == FIRST_MESSAGE_EVENTS


async def test_a_redelivered_fact_is_recorded_once(
    service: SessionService, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    fact = inbound_fact("15557000002")
    subject = topology.subject("ingest.events", "pn-7", "InboundMessageReceived")

    await js.publish(subject, fact.SerializeToString(), headers={"Nats-Msg-Id": "first"})
    await js.publish(subject, fact.SerializeToString(), headers={"Nats-Msg-Id": "second"})

    async def both_handled() -> bool:
        info = await js.consumer_info(topology.stream("INGEST_EVENTS"), "session-ingest")
        return (
            info.num_ack_pending == 0 and info.num_pending == 0 and info.delivered.stream_seq == 2
        )

    await eventually(both_handled)
    await eventually(lambda: service.relay.position >= FIRST_MESSAGE_EVENTS)
    names = [name for name, _ in await session_events(js, topology)]
    assert names.count("Conversation.CustomerMessageReceived") == 1


async def test_a_draft_is_queued_and_the_log_reads_back_in_order(
    service: SessionService, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    fact = inbound_fact("15557000003")
    await js.publish(
        topology.subject("ingest.events", "pn-7", "InboundMessageReceived"),
        fact.SerializeToString(),
        headers={"Nats-Msg-Id": fact.wamid},
    )
    await eventually(lambda: service.relay.position >= FIRST_MESSAGE_EVENTS)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}")
    log = pb_grpc.EventLogStub(channel)
    auth = (("authorization", f"Bearer {TOKEN}"),)
    stored = [e async for e in log.ReadAll(pb.ReadAllRequest(from_position=1), metadata=auth)]
    conversation_id = next(e.aggregate_id for e in stored if e.HasField("conversation_started"))
    draft = ai_pb2.ReplyDrafted(
        draft_id="draft-1",
        conversation_id=conversation_id,
        content=common_pb2.MessageContent(type="text", text="Hi Ana!"),
    )

    await js.publish(
        topology.subject("ai_responder.events", "Conversation", "ReplyDrafted"),
        draft.SerializeToString(),
        headers={"Nats-Msg-Id": draft.draft_id},
    )

    await eventually(lambda: service.relay.position >= FIRST_MESSAGE_EVENTS + 1)
    stored = [e async for e in log.ReadAll(pb.ReadAllRequest(from_position=1), metadata=auth)]
    await channel.close()
    assert [e.position for e in stored] == sorted(e.position for e in stored)
    queued = [e for e in stored if e.HasField("outbound_message_queued")]
    assert len(queued) == 1
    assert queued[0].outbound_message_queued.recipient.wa_id == "15557000003"
    assert queued[0].outbound_message_queued.content.text == "Hi Ana!"
    assert isinstance(queued[0], events_pb.SessionEvent)


async def test_the_event_log_refuses_a_caller_without_a_token(service: SessionService) -> None:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}")
    log = pb_grpc.EventLogStub(channel)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        _ = [e async for e in log.ReadAll(pb.ReadAllRequest())]

    await channel.close()
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
