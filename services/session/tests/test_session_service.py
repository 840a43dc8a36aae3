"""The session service over real NATS JetStream and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from types import ModuleType
from uuid import uuid4

import aiohttp
import grpc
import psycopg
import pytest
from nats.js import JetStreamContext

from threadline.contracts.events.v1 import ai_pb2, common_pb2, ingest_pb2
from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.messaging.relay import POSITION
from threadline.messaging.topology import (
    INBOUND_MESSAGE_RECEIVED,
    INGEST_EVENTS,
    REPLY_DRAFTED,
    SESSION_EVENTS,
    SESSION_INGEST,
    Topology,
    durables_of,
)
from threadline.servicekit.auth import hash_token
from threadline.session.adapters.outbound.event_store import store_reachable
from threadline.session.bootstrap import RunningSession, bootstrap
from threadline.session.config import SessionConfig
from threadline.testing import eventually
from threadline.testing.clock import FakeClock

TOKEN = "session-test-token"
ConfigFactory = Callable[..., SessionConfig]
# A first message stores: the contact, its open conversation, the claim of its wa_id, the
# business number, the conversation and the message.
FIRST_MESSAGE_EVENTS = 6


@pytest.fixture
async def service(
    session_config: ConfigFactory, service_clock: FakeClock
) -> AsyncIterator[RunningSession]:
    config = session_config(api_tokens=f"{hash_token(TOKEN)}:read,write,admin:*")
    async with AsyncExitStack() as stack:
        yield await bootstrap(config, stack, clock=service_clock)


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
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    fact = inbound_fact("15557000001")

    await js.publish(
        topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id="pn-7"),
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
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    fact = inbound_fact("15557000002")
    subject = topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id="pn-7")

    await js.publish(subject, fact.SerializeToString(), headers={"Nats-Msg-Id": "first"})
    await js.publish(subject, fact.SerializeToString(), headers={"Nats-Msg-Id": "second"})

    async def both_handled() -> bool:
        info = await js.consumer_info(topology.stream(INGEST_EVENTS), SESSION_INGEST.name)
        return (
            info.num_ack_pending == 0 and info.num_pending == 0 and info.delivered.stream_seq == 2
        )

    await eventually(both_handled)
    await eventually(lambda: service.relay.position >= FIRST_MESSAGE_EVENTS)
    names = [name for name, _ in await session_events(js, topology)]
    assert names.count("Conversation.CustomerMessageReceived") == 1


async def test_a_draft_is_queued_and_the_log_reads_back_in_order(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    fact = inbound_fact("15557000003")
    await js.publish(
        topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id="pn-7"),
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
        topology.publish_subject(REPLY_DRAFTED),
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


async def test_the_relay_publishes_what_the_domain_object_path_made(
    service: RunningSession,
    js: JetStreamContext,
    nats_namespace: str,
    legacy: ModuleType,
    every_event_type: Callable[..., None],
    same_event: Callable[[events_pb.SessionEvent, events_pb.SessionEvent], None],
) -> None:
    topology = Topology(nats_namespace)
    app = service.app
    await asyncio.to_thread(every_event_type, app)
    notes = app.recorder.select_notifications(1, 1000)
    service.relay.wake()

    await eventually(lambda: service.relay.position >= notes[-1].id)

    stream = topology.stream(SESSION_EVENTS)
    for seq, note in enumerate(notes, start=1):
        sent = await js.get_msg(stream, seq)
        made = legacy.to_outbox_record(app.mapper.to_domain_event(note), note.id, topology)
        headers = sent.headers or {}
        assert (sent.subject, headers[POSITION], headers["Nats-Msg-Id"]) == (
            made.subject,
            str(note.id),
            made.msg_id,
        )
        if "traceparent" in made.headers:  # else the bus adds the current one, if any
            # The same trace; the span is the relay's publish (PRODUCER) when spans are
            # recorded, the stored cause's otherwise.
            assert headers["traceparent"].split("-")[1] == made.headers["traceparent"].split("-")[1]
        same_event(
            events_pb.SessionEvent.FromString(sent.data),
            events_pb.SessionEvent.FromString(made.payload),
        )


async def test_the_event_log_refuses_a_caller_without_a_token(service: RunningSession) -> None:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}")
    log = pb_grpc.EventLogStub(channel)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        _ = [e async for e in log.ReadAll(pb.ReadAllRequest())]

    await channel.close()
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def first_conversation(
    service: RunningSession, js: JetStreamContext, topology: Topology, wa_id: str
) -> str:
    fact = inbound_fact(wa_id)
    await js.publish(
        topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id="pn-7"),
        fact.SerializeToString(),
        headers={"Nats-Msg-Id": fact.wamid},
    )
    await eventually(lambda: service.relay.position >= FIRST_MESSAGE_EVENTS)
    found = await session_events(js, topology)
    assert ("Conversation.Started", found[4][1]) in found
    info = await js.get_msg(topology.stream(SESSION_EVENTS), 5)
    return events_pb.SessionEvent.FromString(info.data).aggregate_id


async def test_an_idle_conversation_is_resolved_automatically_and_relayed(
    service: RunningSession,
    js: JetStreamContext,
    nats_namespace: str,
    service_clock: FakeClock,
) -> None:
    topology = Topology(nats_namespace)
    await first_conversation(service, js, topology, "15557000010")
    service_clock.advance(timedelta(hours=12, seconds=1))

    resolved = await service.auto_resolver.run_once()

    assert resolved == 1
    await eventually(lambda: service.relay.position >= FIRST_MESSAGE_EVENTS + 1)
    assert (await session_events(js, topology))[-1][0] == "Conversation.AutoResolved"
    assert await service.auto_resolver.run_once() == 0


async def test_operators_hand_off_and_resume_over_grpc(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    conversation_id = await first_conversation(service, js, Topology(nats_namespace), "15557000011")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        commands = pb_grpc.SessionCommandsStub(channel)
        auth = (("authorization", f"Bearer {TOKEN}"),)

        handed = await commands.HandOff(
            pb.HandOffRequest(conversation_id=conversation_id, reason="wants a person"),
            metadata=auth,
        )
        resumed = await commands.ResumeAutopilot(
            pb.ResumeAutopilotRequest(conversation_id=conversation_id), metadata=auth
        )
        closed = await commands.UpdateConversationStatus(
            pb.UpdateConversationStatusRequest(conversation_id=conversation_id, status="completed"),
            metadata=auth,
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await commands.UpdateConversationStatus(
                pb.UpdateConversationStatusRequest(
                    conversation_id=conversation_id, status="active"
                ),
                metadata=auth,
            )

    assert [handed.status, resumed.status, closed.status] == ["escalated", "active", "completed"]
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "a completed conversation cannot become active" in (refused.value.details() or "")


async def test_a_send_outside_the_window_names_the_templates_that_fit(
    service: RunningSession,
    js: JetStreamContext,
    nats_namespace: str,
    service_clock: FakeClock,
) -> None:
    conversation_id = await first_conversation(service, js, Topology(nats_namespace), "15557000012")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        commands = pb_grpc.SessionCommandsStub(channel)
        auth = (("authorization", f"Bearer {TOKEN}"),)
        await commands.RegisterTemplate(
            pb.RegisterTemplateRequest(
                phone_number_id="pn-7",
                name="follow_up",
                language="en",
                category="UTILITY",
                body="Hi {{1}}, any news?",
            ),
            metadata=auth,
        )
        listed = await commands.ListTemplates(
            pb.ListTemplatesRequest(phone_number_id="pn-7"), metadata=auth
        )
        service_clock.advance(timedelta(hours=25))

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await commands.SendMessage(
                pb.SendMessageRequest(
                    conversation_id=conversation_id,
                    idempotency_key="k1",
                    content=common_pb2.MessageContent(type="text", text="still there?"),
                ),
                metadata=auth,
            )

    assert [(t.name, t.parameter_count) for t in listed.templates] == [("follow_up", 1)]
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "window closed at" in (refused.value.details() or "")
    assert "follow_up (en)" in (refused.value.details() or "")


async def test_a_token_for_another_number_cannot_touch_the_conversation(
    session_config: ConfigFactory, nats_namespace: str, js: JetStreamContext
) -> None:
    config = session_config(
        api_tokens=f"{hash_token(TOKEN)}:read,write,admin:*;{hash_token('other')}:write:pn-9"
    )
    async with AsyncExitStack() as stack:
        service = await bootstrap(config, stack)
        conversation_id = await first_conversation(
            service, js, Topology(nats_namespace), "15557000013"
        )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await pb_grpc.SessionCommandsStub(channel).HandOff(
                    pb.HandOffRequest(conversation_id=conversation_id),
                    metadata=(("authorization", "Bearer other"),),
                )

    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


async def test_two_session_instances_racing_first_messages_open_one_conversation(
    session_config: ConfigFactory, nats_namespace: str, js: JetStreamContext
) -> None:
    topology = Topology(nats_namespace)
    config = session_config(
        api_tokens=f"{hash_token(TOKEN)}:read,write,admin:*",
        batch_size=4,
        cache_fastforward=True,  # two writers: each cache asks the store for newer events
    )
    facts = [inbound_fact("15557000020", f"message {n}") for n in range(24)]
    async with AsyncExitStack() as stack:
        for _ in range(2):  # two session instances sharing the durable consumers
            await bootstrap(config, stack)

        await asyncio.gather(
            *(
                js.publish(
                    topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id="pn-7"),
                    fact.SerializeToString(),
                    headers={"Nats-Msg-Id": fact.wamid},
                )
                for fact in facts
            )
        )

        async def all_relayed() -> bool:
            # Not by relay position: conflicting inserts leave gaps in notification ids.
            names = [name for name, _ in await session_events(js, topology)]
            return names.count("Conversation.CustomerMessageReceived") >= len(facts)

        await eventually(all_relayed, timeout=30)
        names = [name for name, _ in await session_events(js, topology)]

    assert names.count("Conversation.Started") == 1
    assert names.count("Conversation.CustomerMessageReceived") == len(facts)


async def readiness(port: int) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/readyz") as response,
    ):
        return response.status, await response.json()


async def test_readiness_checks_the_database_nats_the_relay_and_every_consumer(
    service: RunningSession,
) -> None:
    consumers = [durable.name for durable in durables_of("session")]
    assert [loop.name for loop in service.loops] == ["auto-resolver", "relay", *consumers]
    assert await readiness(service.ops_port) == (200, {"ready": True, "problems": {}})

    service.relay.stop()
    await eventually(lambda: not service.loops[1].running)

    assert await readiness(service.ops_port) == (
        503,
        {"ready": False, "problems": {"relay": "relay stopped"}},
    )


async def test_the_database_check_says_when_the_store_does_not_answer() -> None:
    class Unreachable:
        def max_notification_id(self) -> int:
            raise psycopg.OperationalError("connection refused")

    problem = await store_reachable(Unreachable())()  # type: ignore[arg-type]

    assert problem == "the event store is unreachable: OperationalError: connection refused"
