"""The outbound service end to end: real NATS JetStream, a real local Cloud API stand-in."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import aiohttp
import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import BucketNotFoundError, NotFoundError

from threadline.contracts.events.v1 import common_pb2, outbound_pb2, session_pb2
from threadline.messaging.bus import InMemoryBus
from threadline.messaging.dead_letters import REASON
from threadline.messaging.topology import (
    DEAD_LETTERS,
    OUTBOUND_DISPATCH,
    OUTBOUND_EVENTS,
    SESSION_EVENT,
    SESSION_EVENTS,
    Topology,
    ensure_streams,
)
from threadline.outbound.adapters.outbound.graph_api import ScriptedGraphApi
from threadline.outbound.adapters.outbound.sent_ledger import BUCKET, InMemorySentLedger
from threadline.outbound.bootstrap import RunningOutbound, bootstrap
from threadline.outbound.config import OutboundConfig
from threadline.outbound.domain.pacing import PacingSettings
from threadline.testing import eventually

if TYPE_CHECKING:
    from conftest import CloudApiStub, ReceivedRequest

TOKEN = "EAAG-outbound-test"
PHONE_NUMBER_ID = "106540352242922"
MAX_DELIVER = 3


@pytest.fixture
async def js(nats_server_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server_url)
    yield nc.jetstream()
    await nc.drain()


@pytest.fixture
def topology(nats_namespace: str) -> Topology:
    return Topology(nats_namespace)


@pytest.fixture
async def services(
    nats_server_url: str,
    nats_namespace: str,
    cloud_api: CloudApiStub,
    js: JetStreamContext,
    topology: Topology,
) -> AsyncIterator[AsyncExitStack]:
    """Where `start` puts the service; the test's streams and bucket are deleted after it."""
    await ensure_streams(js, topology)
    async with AsyncExitStack() as stack:
        yield stack
    for stream in topology.stream_configs():
        await js.delete_stream(stream.name or "")
    with contextlib.suppress(BucketNotFoundError, NotFoundError):  # not made, or deleted
        await js.delete_key_value(f"{nats_namespace}_{BUCKET}")


@pytest.fixture
def config(nats_server_url: str, nats_namespace: str, cloud_api: CloudApiStub) -> OutboundConfig:
    return OutboundConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        graph_api_base_url=cloud_api.url,
        graph_api_version="v23.0",
        access_token=TOKEN,
        ops_port=0,
        concurrency=4,
    )


async def start(config: OutboundConfig, services: AsyncExitStack) -> RunningOutbound:
    return await bootstrap(config, services, max_deliver=MAX_DELIVER, backoff=(0.05,))


@pytest.fixture
async def outbound(config: OutboundConfig, services: AsyncExitStack) -> RunningOutbound:
    return await start(config, services)


def queued_event(
    conversation_id: str = "", *, to: str = "16505551234", **content: str
) -> session_pb2.SessionEvent:
    return session_pb2.SessionEvent(
        event_id=str(uuid.uuid4()),
        aggregate_type="Conversation",
        aggregate_id=conversation_id or f"conversation-{uuid.uuid4()}",
        outbound_message_queued=session_pb2.OutboundMessageQueued(
            message_id=f"message-{uuid.uuid4()}",
            author="ai",
            content=common_pb2.MessageContent(**(content or {"type": "text", "text": "Hi!"})),
            phone_number_id=PHONE_NUMBER_ID,
            recipient=common_pb2.CustomerIdentity(wa_id=to),
        ),
    )


async def publish(
    js: JetStreamContext,
    topology: Topology,
    event: session_pb2.SessionEvent,
    *,
    msg_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    subject = topology.publish_subject(
        SESSION_EVENT, aggregate="Conversation", event="OutboundMessageQueued"
    )
    all_headers = {"Nats-Msg-Id": msg_id or event.event_id, **(headers or {})}
    await js.publish(subject, event.SerializeToString(), headers=all_headers)


async def messages_on(js: JetStreamContext, stream: str, subject: str) -> list[RawStreamMsg]:
    info = await js.stream_info(stream)
    found = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(stream, seq=sequence)
        if message.subject == subject:
            found.append(message)
    return found


async def results(js: JetStreamContext, topology: Topology, event: str) -> list[RawStreamMsg]:
    subject = topology.subject("outbound.events", "0", "Message", event)
    return await messages_on(js, topology.stream(OUTBOUND_EVENTS), subject)


async def all_handled(js: JetStreamContext, topology: Topology, published: int) -> None:
    """Wait until the consumer has settled every one of the `published` queued messages."""

    async def settled() -> bool:
        try:
            info = await js.consumer_info(topology.stream(SESSION_EVENTS), OUTBOUND_DISPATCH.name)
        except NotFoundError:
            return False
        return info.ack_floor.stream_seq >= published and info.num_ack_pending == 0

    await eventually(settled, timeout=15)


async def test_queued_text_is_sent_with_the_token_and_announced_dispatched(
    outbound: RunningOutbound, js: JetStreamContext, topology: Topology, cloud_api: CloudApiStub
) -> None:
    event = queued_event(type="text", text="Your order has shipped")

    await publish(js, topology, event)

    await eventually(lambda: len(cloud_api.requests) == 1)
    [request] = cloud_api.requests
    assert request.path == f"/v23.0/{PHONE_NUMBER_ID}/messages"
    assert request.authorization == f"Bearer {TOKEN}"
    assert request.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"body": "Your order has shipped", "preview_url": False},
    }
    await all_handled(js, topology, 1)
    [announced] = await results(js, topology, "Dispatched")
    dispatched = outbound_pb2.MessageDispatched.FromString(announced.data)
    message_id = event.outbound_message_queued.message_id
    assert (dispatched.message_id, dispatched.conversation_id, dispatched.wamid) == (
        message_id,
        event.aggregate_id,
        cloud_api.accepted[0],
    )
    assert (announced.headers or {})["Nats-Msg-Id"] == f"{message_id}:dispatched"


async def test_redelivered_queued_message_is_sent_once(
    outbound: RunningOutbound, js: JetStreamContext, topology: Topology, cloud_api: CloudApiStub
) -> None:
    event = queued_event()

    await publish(js, topology, event, msg_id=f"{event.event_id}:first")
    await publish(js, topology, event, msg_id=f"{event.event_id}:again")

    await all_handled(js, topology, 2)
    assert len(cloud_api.requests) == 1
    [announced] = await results(js, topology, "Dispatched")
    assert outbound_pb2.MessageDispatched.FromString(announced.data).wamid == cloud_api.accepted[0]


async def test_refused_message_is_announced_failed_without_retry(
    outbound: RunningOutbound, js: JetStreamContext, topology: Topology, cloud_api: CloudApiStub
) -> None:
    cloud_api.fail_next(400, 131026, "(#131026) Message Undeliverable.", "Not on WhatsApp")
    event = queued_event()

    await publish(js, topology, event)

    await all_handled(js, topology, 1)
    assert len(cloud_api.requests) == 1
    [announced] = await results(js, topology, "DispatchFailed")
    failed = outbound_pb2.MessageDispatchFailed.FromString(announced.data)
    assert failed.message_id == event.outbound_message_queued.message_id
    assert (failed.error.code, failed.error.title, failed.error.details) == (
        131026,
        "Message Undeliverable.",
        "Not on WhatsApp",
    )
    assert not failed.retryable
    assert await results(js, topology, "Dispatched") == []


async def test_server_error_is_retried_and_the_message_sent_once(
    outbound: RunningOutbound, js: JetStreamContext, topology: Topology, cloud_api: CloudApiStub
) -> None:
    cloud_api.fail_next(500, 2, "(#2) Service temporarily unavailable")

    await publish(js, topology, queued_event())

    await all_handled(js, topology, 1)
    assert len(cloud_api.requests) == 2
    assert cloud_api.requests[0].body == cloud_api.requests[1].body
    [announced] = await results(js, topology, "Dispatched")
    assert outbound_pb2.MessageDispatched.FromString(announced.data).wamid == cloud_api.accepted[0]
    assert await results(js, topology, "DispatchFailed") == []


async def test_message_that_keeps_failing_is_announced_failed_and_dead_lettered(
    outbound: RunningOutbound, js: JetStreamContext, topology: Topology, cloud_api: CloudApiStub
) -> None:
    cloud_api.fail_always(503, 131016, "(#131016) Service unavailable")
    event = queued_event()

    await publish(js, topology, event)

    await all_handled(js, topology, 1)
    assert len(cloud_api.requests) == MAX_DELIVER
    [announced] = await results(js, topology, "DispatchFailed")
    failed = outbound_pb2.MessageDispatchFailed.FromString(announced.data)
    assert (failed.error.code, failed.retryable) == (131016, True)
    dead_subject = topology.dead_letter_subject("outbound", "max_deliver")
    [dead] = await messages_on(js, topology.stream(DEAD_LETTERS), dead_subject)
    assert session_pb2.SessionEvent.FromString(dead.data) == event
    assert "131016" in (dead.headers or {})[REASON]


async def test_undecodable_payload_is_dead_lettered(
    outbound: RunningOutbound, js: JetStreamContext, topology: Topology, cloud_api: CloudApiStub
) -> None:
    subject = topology.publish_subject(
        SESSION_EVENT, aggregate="Conversation", event="OutboundMessageQueued"
    )

    await js.publish(subject, b"\xff\xffnot a protobuf", headers={"Nats-Msg-Id": "garbage"})

    await all_handled(js, topology, 1)
    dead_subject = topology.dead_letter_subject("outbound", "undecodable")
    [dead] = await messages_on(js, topology.stream(DEAD_LETTERS), dead_subject)
    assert dead.data == b"\xff\xffnot a protobuf"
    assert cloud_api.requests == []


async def test_trace_continues_from_the_queued_event_to_the_graph_api_and_the_result(
    outbound: RunningOutbound, js: JetStreamContext, topology: Topology, cloud_api: CloudApiStub
) -> None:
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"

    await publish(js, topology, queued_event(), headers={"traceparent": traceparent})

    await all_handled(js, topology, 1)
    assert cloud_api.requests[0].traceparent.split("-")[1] == trace_id
    [announced] = await results(js, topology, "Dispatched")
    assert (announced.headers or {})["traceparent"].split("-")[1] == trace_id


async def test_interactive_payload_is_sent_as_its_object(
    outbound: RunningOutbound, js: JetStreamContext, topology: Topology, cloud_api: CloudApiStub
) -> None:
    buttons = {
        "type": "button",
        "body": {"text": "Shall we book it?"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}}]},
    }

    await publish(js, topology, queued_event(type="interactive", payload_json=json.dumps(buttons)))

    await all_handled(js, topology, 1)
    assert cloud_api.requests[0].body["interactive"] == buttons


async def test_a_quoting_message_is_sent_with_its_context(
    outbound: RunningOutbound, js: JetStreamContext, topology: Topology, cloud_api: CloudApiStub
) -> None:
    event = queued_event(type="text", text="Yes, two left")
    event.outbound_message_queued.quoted_message_id = "customer-message-1"
    event.outbound_message_queued.quoted_wamid = "wamid.customer.1"

    await publish(js, topology, event)

    await all_handled(js, topology, 1)
    [request] = cloud_api.requests
    assert request.body["context"] == {"message_id": "wamid.customer.1"}
    assert request.body["text"] == {"body": "Yes, two left", "preview_url": False}


async def test_ops_server_is_ready_while_connected(outbound: RunningOutbound) -> None:
    url = f"http://127.0.0.1:{outbound.ops.port}/readyz"

    async with aiohttp.ClientSession() as http, http.get(url) as response:
        body = await response.json()

    assert response.status == 200
    assert body["ready"] is True


async def test_messages_of_different_conversations_are_sent_concurrently(
    config: OutboundConfig,
    services: AsyncExitStack,
    js: JetStreamContext,
    topology: Topology,
    cloud_api: CloudApiStub,
) -> None:
    cloud_api.delay = 0.2
    for n in range(4):
        await publish(js, topology, queued_event(to=f"1650555000{n}"))

    await start(config, services)

    await all_handled(js, topology, 4)
    assert len(cloud_api.requests) == 4
    assert cloud_api.most_in_flight > 1


async def test_messages_of_one_conversation_are_sent_one_by_one_in_order(
    config: OutboundConfig,
    services: AsyncExitStack,
    js: JetStreamContext,
    topology: Topology,
    cloud_api: CloudApiStub,
) -> None:
    cloud_api.delay = 0.05
    conversation_id = f"conversation-{uuid.uuid4()}"
    texts = [f"part {n}" for n in range(4)]
    for text in texts:
        await publish(js, topology, queued_event(conversation_id, type="text", text=text))

    await start(config, services)

    await all_handled(js, topology, 4)
    assert [r.body["text"]["body"] for r in cloud_api.requests] == texts
    assert cloud_api.most_in_flight == 1


async def test_the_graph_api_the_sent_ledger_and_the_bus_are_ports_a_test_can_swap(
    config: OutboundConfig,
    services: AsyncExitStack,
    js: JetStreamContext,
    topology: Topology,
    cloud_api: CloudApiStub,
) -> None:
    graph, ledger, bus = ScriptedGraphApi(["wamid.PORT"]), InMemorySentLedger(), InMemoryBus()
    await bootstrap(config, services, bus=bus, graph_api=graph, sent_ledger=ledger)
    event = queued_event()

    await publish(js, topology, event)

    await all_handled(js, topology, 1)
    message_id = event.outbound_message_queued.message_id
    assert [phone for phone, _ in graph.sent] == [PHONE_NUMBER_ID]
    assert ledger.sent[message_id].wamid == "wamid.PORT"
    [announced] = bus.published
    assert announced.subject == topology.subject("outbound.events", "0", "Message", "Dispatched")
    assert outbound_pb2.MessageDispatched.FromString(announced.payload).wamid == "wamid.PORT"
    assert cloud_api.requests == []


async def test_not_ready_while_the_sent_ledger_does_not_answer(
    outbound: RunningOutbound, js: JetStreamContext, nats_namespace: str
) -> None:
    url = f"http://127.0.0.1:{outbound.ops.port}/readyz"

    await js.delete_key_value(f"{nats_namespace}_{BUCKET}")

    async with aiohttp.ClientSession() as http, http.get(url) as response:
        body = await response.json()
    assert response.status == 503
    assert list(body["problems"]) == ["sent_ledger"]


def texts_by_recipient(requests: list[ReceivedRequest]) -> dict[str, list[str]]:
    sent: dict[str, list[str]] = {}
    for request in requests:
        sent.setdefault(request.body["to"], []).append(request.body["text"]["body"])
    return sent


async def publish_to_recipients(
    js: JetStreamContext, topology: Topology, recipients: int, each: int
) -> dict[str, list[str]]:
    """`each` texts to each of `recipients` recipients (a conversation each), interleaved."""
    queued: dict[str, list[str]] = {}
    conversations = {f"1650556{r:04d}": f"conversation-{uuid.uuid4()}" for r in range(recipients)}
    for n in range(each):
        for to, conversation_id in conversations.items():
            text = f"{to} part {n}"
            queued.setdefault(to, []).append(text)
            await publish(
                js, topology, queued_event(conversation_id, to=to, type="text", text=text)
            )
    return queued


async def test_throughput_and_pair_rate_limits_slow_the_sender_without_losing_or_reordering(
    config: OutboundConfig,
    services: AsyncExitStack,
    js: JetStreamContext,
    topology: Topology,
    cloud_api: CloudApiStub,
) -> None:
    pacing = PacingSettings(
        rate=50, burst=5, pause=0.2, recover_after=0.5, pair_interval=0.2, max_pair_interval=0.4
    )
    queued = await publish_to_recipients(js, topology, recipients=5, each=6)
    slowed = next(iter(queued))
    # Long enough that every recipient's first send falls in it even on a busy machine (0.6 s
    # was not: in a fresh-clone `make test` two recipients were first sent to after it).
    cloud_api.throttle(130429, for_seconds=1.2)
    cloud_api.throttle(131056, for_seconds=1.5, recipient=slowed)

    await start(dataclasses.replace(config, pacing=pacing), services)

    await all_handled(js, topology, 30)
    assert texts_by_recipient(cloud_api.accepted_sends()) == queued
    throttled = {r.body["to"] for r in cloud_api.throttled_sends()}
    assert len(throttled) == 5  # every recipient was told "too fast" at first
    assert len(await results(js, topology, "Dispatched")) == 30
    assert await results(js, topology, "DispatchFailed") == []
    # The slowed recipient was told "too fast" again and again for 1.5 s and was still not given
    # up on: its first message got through once the window had passed.
    assert sum(1 for r in cloud_api.throttled_sends() if r.body["to"] == slowed) >= 2
    slowed_times = [r.at for r in cloud_api.accepted_sends() if r.body["to"] == slowed]
    assert cloud_api.first_send_at is not None
    assert slowed_times[0] >= cloud_api.first_send_at + 1.5


async def test_a_number_limited_below_its_budget_is_slowed_to_what_whatsapp_takes(
    config: OutboundConfig,
    services: AsyncExitStack,
    js: JetStreamContext,
    topology: Topology,
    cloud_api: CloudApiStub,
) -> None:
    # Configured for 40/s, but WhatsApp takes only 10/s of this number.
    pacing = PacingSettings(rate=40, burst=1, pause=0.2, recover_after=5.0)
    cloud_api.limit_rate(10)
    queued = await publish_to_recipients(js, topology, recipients=10, each=4)

    await start(dataclasses.replace(config, pacing=pacing), services)

    await all_handled(js, topology, 40)
    assert texts_by_recipient(cloud_api.accepted_sends()) == queued
    assert await results(js, topology, "DispatchFailed") == []
    # It slowed down instead of hammering: far fewer "too fast" answers than messages.
    assert 0 < len(cloud_api.throttled_sends()) < 20


async def test_sends_hold_the_numbers_budget(
    config: OutboundConfig,
    services: AsyncExitStack,
    js: JetStreamContext,
    topology: Topology,
    cloud_api: CloudApiStub,
) -> None:
    budget = 25
    queued = await publish_to_recipients(js, topology, recipients=25, each=4)

    pacing = PacingSettings(rate=budget, burst=1)
    await start(dataclasses.replace(config, pacing=pacing), services)

    await all_handled(js, topology, 100)
    sends = cloud_api.accepted_sends()
    assert texts_by_recipient(sends) == queued
    times = [r.at for r in sends]
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert budget * 0.8 <= rate <= budget * 1.05
    in_any_second = max(sum(1 for t in times if start <= t < start + 1) for start in times)
    assert in_any_second <= budget + 1
