"""Typing indicators end to end: real NATS JetStream, the real sandbox as WhatsApp (and the local
Cloud API stand-in for what the sandbox does not play: a 5xx, a slow answer)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import nats
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import BucketNotFoundError, NotFoundError
from prometheus_client import REGISTRY

from threadline.contracts.events.v1 import ai_pb2, common_pb2, session_pb2
from threadline.messaging.dead_letters import REASON
from threadline.messaging.topology import (
    AI_EVENTS,
    DEAD_LETTERS,
    OUTBOUND_TYPING,
    SESSION_EVENT,
    TYPING_INDICATOR_REQUESTED,
    Topology,
    ensure_streams,
)
from threadline.outbound.adapters.inbound.typing_indicators import REFUSED
from threadline.outbound.adapters.outbound.sent_ledger import BUCKET
from threadline.outbound.bootstrap import RunningOutbound, bootstrap
from threadline.outbound.config import OutboundConfig
from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.receiver import WebhookReceiver
from threadline.sandbox.server import Sandbox
from threadline.servicekit.clock import utc_now
from threadline.testing import eventually
from threadline.testing.clock import FakeClock

if TYPE_CHECKING:
    from conftest import CloudApiStub

TOKEN = "EAAG-typing-test"
APP_SECRET = "typing-test-app-secret"
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
    nats_namespace: str, js: JetStreamContext, topology: Topology
) -> AsyncIterator[AsyncExitStack]:
    """Where `start` puts the service; the test's streams and bucket are deleted after it."""
    await ensure_streams(js, topology)
    async with AsyncExitStack() as stack:
        yield stack
    for stream in topology.stream_configs():
        await js.delete_stream(stream.name or "")
    with contextlib.suppress(BucketNotFoundError, NotFoundError):
        await js.delete_key_value(f"{nats_namespace}_{BUCKET}")


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """The sandbox as WhatsApp; its customers' webhooks go to a receiver standing in for ingest."""
    async with (
        WebhookReceiver(APP_SECRET) as receiver,
        Sandbox(
            SandboxConfig(
                app_secret=APP_SECRET,
                access_token=TOKEN,
                port=0,
                webhook_url=receiver.url,
                send_statuses=False,
            )
        ) as started,
    ):
        yield started


def config_for(nats_server_url: str, nats_namespace: str, graph_api_url: str) -> OutboundConfig:
    return OutboundConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        graph_api_base_url=graph_api_url,
        graph_api_version="v23.0",
        access_token=TOKEN,
        ops_port=0,
        concurrency=4,
    )


async def start(config: OutboundConfig, services: AsyncExitStack, **ports: Any) -> RunningOutbound:
    return await bootstrap(
        config, services, max_deliver=MAX_DELIVER, backoff=(0.05,), typing_backoff=(0.05,), **ports
    )


@pytest.fixture
async def outbound(
    nats_server_url: str, nats_namespace: str, sandbox: Sandbox, services: AsyncExitStack
) -> RunningOutbound:
    return await start(config_for(nats_server_url, nats_namespace, sandbox.url), services)


async def customer_writes(sandbox: Sandbox, wa_id: str) -> str:
    """A customer's message to the business number, through the sandbox; its wamid."""
    url = f"{sandbox.url}/sandbox/customers/{wa_id}/messages"
    body = {"phone_number_id": PHONE_NUMBER_ID, "text": "Can I book for Tuesday 3pm?"}
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as response:
        assert response.status == 200, await response.text()
        wamid: str = (await response.json())["wamid"]
    return wamid


def a_customer() -> str:
    return "1555" + str(uuid.uuid4().int % 10**7).zfill(7)


def typing_requested(wamid: str, *, at: datetime | None = None) -> ai_pb2.TypingIndicatorRequested:
    stamp = Timestamp()
    stamp.FromDatetime(at or utc_now())
    return ai_pb2.TypingIndicatorRequested(
        request_id=f"typing-{uuid.uuid4()}",
        conversation_id=f"conversation-{uuid.uuid4()}",
        phone_number_id=PHONE_NUMBER_ID,
        wamid=wamid,
        requested_at=stamp,
    )


async def request_typing(
    js: JetStreamContext, topology: Topology, event: ai_pb2.TypingIndicatorRequested
) -> None:
    """Publish as the AI responder does (`JetStreamTypingIndicator`)."""
    subject = topology.publish_subject(TYPING_INDICATOR_REQUESTED)
    await js.publish(subject, event.SerializeToString(), headers={"Nats-Msg-Id": event.request_id})


async def all_handled(js: JetStreamContext, topology: Topology, published: int) -> None:
    """Wait until the typing consumer has settled every one of the `published` requests."""

    async def settled() -> bool:
        try:
            info = await js.consumer_info(topology.stream(AI_EVENTS), OUTBOUND_TYPING.name)
        except NotFoundError:
            return False
        return info.ack_floor.stream_seq >= published and info.num_ack_pending == 0

    await eventually(settled, timeout=15)


async def dead_letters(js: JetStreamContext, topology: Topology, slug: str) -> list[RawStreamMsg]:
    stream, subject = topology.stream(DEAD_LETTERS), topology.dead_letter_subject("outbound", slug)
    info = await js.stream_info(stream)
    if not info.state.messages:
        return []
    found = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        with contextlib.suppress(NotFoundError):
            message = await js.get_msg(stream, seq=sequence)
            if message.subject == subject:
                found.append(message)
    return found


def queued_reply(wa_id: str) -> session_pb2.SessionEvent:
    return session_pb2.SessionEvent(
        event_id=str(uuid.uuid4()),
        aggregate_type="Conversation",
        aggregate_id=f"conversation-{uuid.uuid4()}",
        outbound_message_queued=session_pb2.OutboundMessageQueued(
            message_id=f"message-{uuid.uuid4()}",
            author="ai",
            content=common_pb2.MessageContent(type="text", text="Yes, Tuesday 3pm is free."),
            phone_number_id=PHONE_NUMBER_ID,
            recipient=common_pb2.CustomerIdentity(wa_id=wa_id),
        ),
    )


def counted(result: str) -> float:
    value = REGISTRY.get_sample_value(
        "threadline_outbound_typing_indicators_total", {"result": result}
    )
    return value or 0.0


async def test_a_requested_typing_indicator_reaches_the_customer_before_the_reply(
    outbound: RunningOutbound, js: JetStreamContext, topology: Topology, sandbox: Sandbox
) -> None:
    wa_id = a_customer()
    wamid = await customer_writes(sandbox, wa_id)
    sent_before = counted("sent")

    await request_typing(js, topology, typing_requested(wamid))

    await eventually(lambda: len(sandbox.outbox.read_receipts(message_id=wamid)) == 1)
    [receipt] = sandbox.outbox.read_receipts(message_id=wamid)
    assert (receipt.phone_number_id, receipt.to, receipt.typing) == (PHONE_NUMBER_ID, wa_id, True)
    assert receipt.request == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
        "typing_indicator": {"type": "text"},
    }
    await all_handled(js, topology, 1)
    assert counted("sent") == sent_before + 1
    # The reply, queued after the indicator was shown, comes after it in the customer's chat.
    await js.publish(
        topology.publish_subject(
            SESSION_EVENT, aggregate="Conversation", event="OutboundMessageQueued"
        ),
        queued_reply(wa_id).SerializeToString(),
        headers={"Nats-Msg-Id": str(uuid.uuid4())},
    )
    await eventually(lambda: len(sandbox.outbox.messages(to=wa_id)) == 1)
    assert [type(seen).__name__ for seen in sandbox.outbox.timeline(to=wa_id)] == [
        "ReadReceipt",
        "AcceptedMessage",
    ]


async def test_a_request_older_than_whatsapp_shows_the_indicator_is_not_sent(
    outbound: RunningOutbound, js: JetStreamContext, topology: Topology, sandbox: Sandbox
) -> None:
    wamid = await customer_writes(sandbox, a_customer())
    stale_before = counted("stale")
    half_a_minute_ago = utc_now() - timedelta(seconds=30)

    await request_typing(js, topology, typing_requested(wamid, at=half_a_minute_ago))

    await all_handled(js, topology, 1)
    assert sandbox.outbox.read_receipts(message_id=wamid) == []
    assert counted("stale") == stale_before + 1
    assert await dead_letters(js, topology, "max_deliver") == []


async def test_a_refused_request_is_dead_lettered_and_the_next_one_still_goes(
    outbound: RunningOutbound, js: JetStreamContext, topology: Topology, sandbox: Sandbox
) -> None:
    refused = typing_requested("not-a-wamid")
    wamid = await customer_writes(sandbox, a_customer())

    await request_typing(js, topology, refused)
    await request_typing(js, topology, typing_requested(wamid))

    await all_handled(js, topology, 2)
    assert len(sandbox.outbox.read_receipts(message_id=wamid)) == 1
    assert sandbox.outbox.read_receipts(message_id="not-a-wamid") == []
    [dead] = await dead_letters(js, topology, REFUSED)
    assert ai_pb2.TypingIndicatorRequested.FromString(dead.data) == refused
    reason = (dead.headers or {})[REASON]
    assert reason.startswith("100 ") and "is not a WhatsApp message id" in reason
    assert await dead_letters(js, topology, "max_deliver") == []


async def test_a_transient_failure_is_retried_until_the_indicator_is_shown(
    nats_server_url: str,
    nats_namespace: str,
    services: AsyncExitStack,
    js: JetStreamContext,
    topology: Topology,
    cloud_api: CloudApiStub,
) -> None:
    await start(config_for(nats_server_url, nats_namespace, cloud_api.url), services)
    cloud_api.fail_next(503, 131016, "(#131016) Service unavailable")

    await request_typing(js, topology, typing_requested("wamid.RETRIED"))

    await all_handled(js, topology, 1)
    assert [r.body["message_id"] for r in cloud_api.read_receipts()] == ["wamid.RETRIED"] * 2
    assert await dead_letters(js, topology, "max_deliver") == []


async def test_a_retry_that_comes_too_late_is_dropped_without_a_call(
    nats_server_url: str,
    nats_namespace: str,
    services: AsyncExitStack,
    js: JetStreamContext,
    topology: Topology,
    cloud_api: CloudApiStub,
) -> None:
    clock = FakeClock(utc_now())
    config = config_for(nats_server_url, nats_namespace, cloud_api.url)
    await bootstrap(config, services, clock=clock, max_deliver=MAX_DELIVER, typing_backoff=(2.0,))
    cloud_api.fail_always(503, 131016, "(#131016) Service unavailable")

    await request_typing(js, topology, typing_requested("wamid.LATE", at=clock.now))
    await eventually(lambda: len(cloud_api.read_receipts()) == 1)
    clock.advance(timedelta(seconds=26))  # before the retry, at least 1 s later

    await all_handled(js, topology, 1)
    assert len(cloud_api.read_receipts()) == 1
    assert await dead_letters(js, topology, "max_deliver") == []


async def test_typing_indicators_never_hold_up_a_send(
    nats_server_url: str,
    nats_namespace: str,
    services: AsyncExitStack,
    js: JetStreamContext,
    topology: Topology,
    cloud_api: CloudApiStub,
) -> None:
    config = config_for(nats_server_url, nats_namespace, cloud_api.url)
    cloud_api.read_receipt_delay = 4.0
    # As many slow indicators as sends may be in flight (one batch: published before the start):
    # a client shared with the sends would have no room left.
    for n in range(config.concurrency):
        await request_typing(js, topology, typing_requested(f"wamid.SLOW{n}"))
    await start(config, services)
    await eventually(lambda: cloud_api.read_receipts_in_flight == config.concurrency)

    await js.publish(
        topology.publish_subject(
            SESSION_EVENT, aggregate="Conversation", event="OutboundMessageQueued"
        ),
        queued_reply(a_customer()).SerializeToString(),
        headers={"Nats-Msg-Id": str(uuid.uuid4())},
    )

    await eventually(lambda: len(cloud_api.sends()) == 1, timeout=3.0)
    assert cloud_api.read_receipts_in_flight == config.concurrency


async def test_not_ready_once_the_typing_consumer_stopped(outbound: RunningOutbound) -> None:
    url = f"http://127.0.0.1:{outbound.ops.port}/readyz"
    consumer = outbound.typing_consumer
    assert consumer.stop is not None and consumer.task is not None

    consumer.stop()
    await asyncio.wait_for(consumer.task, timeout=10)

    async with aiohttp.ClientSession() as http, http.get(url) as response:
        body = await response.json()
    assert response.status == 503
    assert body["problems"] == {"typing_consumer": "outbound-typing stopped"}
