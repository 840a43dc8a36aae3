"""Replies quote what they answer (issue 11 item 8): a message sent with `quoted_message_id`
carries the quoted message's wamid for outbound's `context.message_id`; an id that is no
message of the conversation is refused without saying more, one not sent yet cannot be quoted,
and an AI draft whose quote cannot be sent goes out unquoted rather than not at all."""

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
from threadline.messaging.topology import (
    INBOUND_MESSAGE_RECEIVED,
    REPLY_DRAFTED,
    SESSION_EVENTS,
    Topology,
)
from threadline.servicekit.auth import hash_token
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import (
    DispatchReport,
    DraftedReply,
    InboundMessage,
    OutboundRequest,
)
from threadline.session.application.outcomes import APPLIED
from threadline.session.bootstrap import RunningSession, bootstrap
from threadline.session.config import SessionConfig
from threadline.session.domain.contact import Contact
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.errors import InvalidMessage, QuoteUnavailable
from threadline.session.domain.identity import contact_id, inbound_message_id
from threadline.testing import eventually

InboundFactory = Callable[..., InboundMessage]
ConfigFactory = Callable[..., SessionConfig]
TOKEN = "quoting-test-token"


def opened(app: Conversations, inbound: InboundFactory, wa_id: str) -> tuple[UUID, str, str]:
    """A conversation with one customer message: (conversation id, message id, wamid)."""
    fact = inbound(wa_id=wa_id)
    app.record_facts([fact])
    contact = app.repository.get(contact_id("pn-1", wa_id, ""))
    assert isinstance(contact, Contact) and contact.open_conversation_id is not None
    return contact.open_conversation_id, str(inbound_message_id(fact.wamid)), fact.wamid


def text(conversation_id: UUID, quoted_message_id: str = "", words: str = "Yes") -> OutboundRequest:
    return OutboundRequest(
        conversation_id=conversation_id,
        idempotency_key=uuid4().hex,
        content={"type": "text", "text": words, "payload_json": ""},
        quoted_message_id=quoted_message_id,
    )


def queued_events(
    app: Conversations, conversation_id: UUID
) -> list[Conversation.OutboundMessageQueued]:
    return [
        e
        for e in app.events.get(conversation_id)
        if isinstance(e, Conversation.OutboundMessageQueued)
    ]


# In the application -----------------------------------------------------------------------------


def test_an_operator_quotes_a_customer_message_by_its_id(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id, customer_message, wamid = opened(app, inbound, "15559100001")

    app.send_message(text(conversation_id, customer_message))

    (queued,) = queued_events(app, conversation_id)
    assert (queued.quoted_message_id, queued.quoted_wamid) == (customer_message, wamid)


def test_a_message_quotes_nothing_unless_asked(app: Conversations, inbound: InboundFactory) -> None:
    conversation_id, _, _ = opened(app, inbound, "15559100002")

    app.send_message(text(conversation_id))

    (queued,) = queued_events(app, conversation_id)
    assert (queued.quoted_message_id, queued.quoted_wamid) == ("", "")


def test_a_business_message_is_quotable_once_whatsapp_named_it(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id, _, _ = opened(app, inbound, "15559100003")
    _, first = app.send_message(text(conversation_id, words="Your order shipped"))

    with pytest.raises(QuoteUnavailable) as refused:
        app.send_message(text(conversation_id, str(first)))
    app.record_facts(
        [DispatchReport(message_id=first, conversation_id=conversation_id, wamid="wamid.out.1")]
    )
    app.send_message(text(conversation_id, str(first), "Tracking: 123"))

    assert f"quoted_message_id {first} is queued" in str(refused.value)
    quoting = queued_events(app, conversation_id)[-1]
    assert (quoting.quoted_message_id, quoting.quoted_wamid) == (str(first), "wamid.out.1")


def test_a_message_of_another_conversation_is_not_quotable_and_not_named(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id, _, _ = opened(app, inbound, "15559100004")
    _, elsewhere, _ = opened(app, inbound, "15559100005")
    unknown = str(uuid4())

    with pytest.raises(InvalidMessage) as of_another:
        app.send_message(text(conversation_id, elsewhere))
    with pytest.raises(InvalidMessage) as of_none:
        app.send_message(text(conversation_id, unknown))

    assert str(of_another.value) == (
        f"quoted_message_id '{elsewhere}' is not a message of this conversation"
    )
    assert str(of_none.value).replace(unknown, elsewhere) == str(of_another.value)
    assert queued_events(app, conversation_id) == []


def test_a_draft_quotes_the_customer_message_it_names(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id, customer_message, wamid = opened(app, inbound, "15559100006")
    draft = DraftedReply(
        draft_id="draft-q-1",
        conversation_id=conversation_id,
        in_reply_to_message_id=customer_message,
        content={"type": "text", "text": "We open at nine."},
        quoted_message_id=customer_message,
    )

    assert app.record_facts([draft]) == [APPLIED]

    (queued,) = queued_events(app, conversation_id)
    assert (queued.quoted_message_id, queued.quoted_wamid) == (customer_message, wamid)


def test_a_draft_whose_quote_cannot_be_sent_goes_out_unquoted(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation_id, _, _ = opened(app, inbound, "15559100007")
    draft = DraftedReply(
        draft_id="draft-q-2",
        conversation_id=conversation_id,
        in_reply_to_message_id="m-1",
        content={"type": "text", "text": "We open at nine."},
        quoted_message_id=str(uuid4()),
    )

    assert app.record_facts([draft]) == [APPLIED]

    (queued,) = queued_events(app, conversation_id)
    assert queued.content["text"] == "We open at nine."
    assert (queued.quoted_message_id, queued.quoted_wamid) == ("", "")


# Over gRPC and NATS ------------------------------------------------------------------------------


@pytest.fixture
async def service(session_config: ConfigFactory) -> AsyncIterator[RunningSession]:
    tokens = f"{hash_token(TOKEN)}:read,write,admin:*;{hash_token('other')}:read,write:pn-other"
    async with AsyncExitStack() as stack:
        yield await bootstrap(session_config(api_tokens=tokens), stack)


async def customer_writes(
    js: JetStreamContext, topology: Topology, number: str, wa_id: str
) -> tuple[str, str]:
    """(message id, wamid) of a customer message published as ingest would."""
    fact = ingest_pb2.InboundMessageReceived(
        wamid=f"wamid.{uuid4().hex}",
        phone_number_id=number,
        customer=common_pb2.CustomerIdentity(wa_id=wa_id, profile_name="Ana"),
        content=common_pb2.MessageContent(type="text", text="Is it in stock?"),
    )
    fact.sent_at.FromDatetime(datetime.now(UTC))
    fact.received_at.FromDatetime(datetime.now(UTC))
    await js.publish(
        topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id=number),
        fact.SerializeToString(),
        headers={"Nats-Msg-Id": fact.wamid},
    )
    return str(inbound_message_id(fact.wamid)), fact.wamid


async def relayed(js: JetStreamContext, topology: Topology) -> list[events_pb.SessionEvent]:
    stream = topology.stream(SESSION_EVENTS)
    last = (await js.stream_info(stream)).state.last_seq
    return [
        events_pb.SessionEvent.FromString((await js.get_msg(stream, seq)).data)
        for seq in range(1, last + 1)
    ]


async def conversation_of(js: JetStreamContext, topology: Topology, message_id: str) -> str:
    async def found() -> str:
        for event in await relayed(js, topology):
            if event.customer_message_received.message_id == message_id:
                return event.aggregate_id
        return ""

    await eventually(found)
    return await found()


async def queued_with(
    js: JetStreamContext, topology: Topology, message_id: str
) -> events_pb.OutboundMessageQueued:
    async def found() -> events_pb.OutboundMessageQueued | None:
        for event in await relayed(js, topology):
            if event.outbound_message_queued.message_id == message_id:
                return event.outbound_message_queued
        return None

    await eventually(found)
    queued = await found()
    assert queued is not None
    return queued


@pytest.mark.integration
async def test_send_message_quotes_over_grpc_and_the_relay_carries_the_wamid(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    asked, wamid = await customer_writes(js, topology, "pn-7", "15559200001")
    conversation_id = await conversation_of(js, topology, asked)
    auth = (("authorization", f"Bearer {TOKEN}"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        commands = pb_grpc.SessionCommandsStub(channel)
        sent = await commands.SendMessage(
            pb.SendMessageRequest(
                conversation_id=conversation_id,
                idempotency_key="quote-1",
                content=common_pb2.MessageContent(type="text", text="Yes, two left"),
                quoted_message_id=asked.upper(),  # any spelling of the UUID
            ),
            metadata=auth,
        )
        with pytest.raises(grpc.aio.AioRpcError) as not_sent_yet:
            await commands.SendMessage(
                pb.SendMessageRequest(
                    conversation_id=conversation_id,
                    idempotency_key="quote-2",
                    content=common_pb2.MessageContent(type="text", text="(see above)"),
                    quoted_message_id=sent.message_id,
                ),
                metadata=auth,
            )
        with pytest.raises(grpc.aio.AioRpcError) as not_an_id:
            await commands.SendMessage(
                pb.SendMessageRequest(
                    conversation_id=conversation_id,
                    idempotency_key="quote-3",
                    content=common_pb2.MessageContent(type="text", text="?"),
                    quoted_message_id="wamid.not-ours",
                ),
                metadata=auth,
            )

    queued = await queued_with(js, topology, sent.message_id)
    assert (queued.quoted_message_id, queued.quoted_wamid) == (asked, wamid)
    assert not_sent_yet.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "has no WhatsApp id yet" in (not_sent_yet.value.details() or "")
    assert not_an_id.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (not_an_id.value.details() or "").startswith("quoted_message_id must be a UUID")


@pytest.mark.integration
async def test_another_tenants_message_is_refused_as_unknown(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    theirs, _ = await customer_writes(js, topology, "pn-7", "15559200002")
    mine, _ = await customer_writes(js, topology, "pn-other", "15559200003")
    conversation_id = await conversation_of(js, topology, mine)
    await conversation_of(js, topology, theirs)
    auth = (("authorization", "Bearer other"),)
    refusals = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        for quoted_id in (theirs, str(uuid4())):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await pb_grpc.SessionCommandsStub(channel).SendMessage(
                    pb.SendMessageRequest(
                        conversation_id=conversation_id,
                        idempotency_key=f"quote-{quoted_id}",
                        content=common_pb2.MessageContent(type="text", text="Hello"),
                        quoted_message_id=quoted_id,
                    ),
                    metadata=auth,
                )
            refusals.append(refused.value)

    assert [r.code() for r in refusals] == [grpc.StatusCode.INVALID_ARGUMENT] * 2
    assert (refusals[0].details() or "") == (
        f"quoted_message_id '{theirs}' is not a message of this conversation"
    )
    assert (refusals[1].details() or "").endswith("is not a message of this conversation")


@pytest.mark.integration
async def test_a_drafted_reply_quoting_a_customer_message_is_queued_with_its_wamid(
    service: RunningSession, js: JetStreamContext, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    asked, wamid = await customer_writes(js, topology, "pn-7", "15559200004")
    conversation_id = await conversation_of(js, topology, asked)
    draft = ai_pb2.ReplyDrafted(
        draft_id="draft-quote-1",
        conversation_id=conversation_id,
        in_reply_to_message_id=asked,
        content=common_pb2.MessageContent(type="text", text="Two left."),
        quoted_message_id=asked,
    )

    await js.publish(
        topology.publish_subject(REPLY_DRAFTED),
        draft.SerializeToString(),
        headers={"Nats-Msg-Id": draft.draft_id},
    )

    async def queued() -> events_pb.OutboundMessageQueued | None:
        for event in await relayed(js, topology):
            if event.HasField("outbound_message_queued"):
                return event.outbound_message_queued
        return None

    await eventually(queued)
    body = await queued()
    assert body is not None
    assert (body.quoted_message_id, body.quoted_wamid) == (asked, wamid)
