"""Outgoing webhooks (issue 13 item 5) over a real platform: the session and the gateway on
real NATS and PostgreSQL, customers writing through ingest's subject, and a local aiohttp
receiver. Subscriptions are configured through the REST API; the gateway's delivery signs
each notification, retries a failing receiver with back-off, never POSTs one event twice
(even when the event is delivered to it again), and notifies a customer waiting past the
threshold once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import aiohttp
import nats
import pytest
from aiohttp import web
from nats.js import JetStreamContext

from threadline.contracts.events.v1 import ai_pb2, common_pb2, ingest_pb2
from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.gateway.bootstrap import bootstrap as start_gateway
from threadline.gateway.config import GatewayConfig
from threadline.gateway.webhooks.delivery import (
    DELIVERED,
    OUTBOX,
    SUBSCRIPTIONS,
    SUBSCRIPTIONS_KEY,
    WAITING,
    WebhookDelivery,
    WebhookDeliverySettings,
)
from threadline.gateway.webhooks.notifications import Subscription
from threadline.messaging.key_value import change_value, latest_values, open_bucket
from threadline.messaging.topology import (
    GATEWAY_WEBHOOKS,
    HAND_OFF_REQUESTED,
    INBOUND_MESSAGE_RECEIVED,
    SESSION_EVENTS,
    Topology,
)
from threadline.servicekit.auth import hash_token
from threadline.session.bootstrap import bootstrap
from threadline.session.config import SessionConfig
from threadline.testing import eventually

NUMBER = "pn-webhooks-1"
OTHER_NUMBER = "pn-webhooks-2"
ADMIN = "admin-of-every-number"
TENANT = "admin-of-the-other-number"
TOKENS = (
    f"{hash_token(ADMIN)}:read,write,admin:*;{hash_token(TENANT)}:read,write,admin:{OTHER_NUMBER}"
)
SECRET_REF = "THREADLINE_TEST_WEBHOOK_SECRET"
SECRET = "a signing secret only the gateway and the receiver know"
Json = dict[str, Any]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Json:
        value: Json = json.loads(self.body)
        return value


@dataclass
class Receiver:
    """A business's webhook endpoint: records every POST; answers the statuses queued in
    `answers` first (then 200)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    # `/slow` (at `slow_url`) answers only once this is set.
    slow_url: str = ""
    slow_release: asyncio.Event = field(default_factory=asyncio.Event)
    slow_received: int = 0

    async def handle_slowly(self, request: web.Request) -> web.Response:
        self.slow_received += 1
        await self.slow_release.wait()
        return web.Response(status=200)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(dict(request.headers), await request.read()))
        return web.Response(status=self.answers.pop(0) if self.answers else 200)

    def of_kind(self, kind: str) -> list[Received]:
        return [r for r in self.received if r.headers["X-Threadline-Event"] == kind]


@dataclass
class Platform:
    http: aiohttp.ClientSession
    js: JetStreamContext
    topology: Topology
    receiver: Receiver

    async def subscribe(self, subscription_id: str, events: list[str], **fields: Any) -> Json:
        body = {
            "phone_number_id": NUMBER,
            "url": self.receiver.url,
            "secret_ref": SECRET_REF,
            "events": events,
        } | fields
        async with self.http.put(
            f"/api/v1/webhooks/{subscription_id}", json=body, headers=bearer(ADMIN)
        ) as response:
            assert response.status == 200, await response.text()
            answer: Json = await response.json()
            return answer

    async def customer_writes(self, text: str, wa_id: str) -> None:
        fact = ingest_pb2.InboundMessageReceived(
            wamid=f"wamid.{uuid4().hex}",
            phone_number_id=NUMBER,
            customer=common_pb2.CustomerIdentity(wa_id=wa_id, profile_name="Ana"),
            content=common_pb2.MessageContent(type="text", text=text),
        )
        fact.sent_at.FromDatetime(datetime.now(UTC))
        fact.received_at.FromDatetime(datetime.now(UTC))
        subject = self.topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id=NUMBER)
        await self.js.publish(
            subject, fact.SerializeToString(), headers={"Nats-Msg-Id": fact.wamid}
        )

    async def arrived(self, kind: str, count: int = 1) -> list[Received]:
        """The first `count` notifications of `kind`, once they came."""

        def came() -> bool:
            return len(self.receiver.of_kind(kind)) >= count

        await eventually(came, timeout=20)
        return self.receiver.of_kind(kind)[:count]

    async def settled(self) -> None:
        """Once the delivery consumer has handled every session event and the outbox is empty:
        whatever these events were to send is sent."""
        stream = self.topology.stream(SESSION_EVENTS)

        async def idle() -> bool:
            info = await self.js.consumer_info(stream, GATEWAY_WEBHOOKS.name)
            outbox = await latest_values(self.js, OUTBOX, namespace=self.topology.namespace)
            return info.num_pending == 0 and info.num_ack_pending == 0 and not outbox

        await eventually(idle, timeout=20)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def customer() -> str:
    return f"1555{uuid4().int % 10**7:07d}"


async def start_receiver(stack: AsyncExitStack) -> Receiver:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    app.router.add_post("/slow", receiver.handle_slowly)
    # A delivery's idle keep-alive connection is not waited for at the end (aiohttp waits 60 s).
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"
    receiver.slow_url = f"http://127.0.0.1:{runner.addresses[0][1]}/slow"
    stack.callback(receiver.slow_release.set)  # before the runner's cleanup waits for it
    return receiver


PlatformOf = Callable[..., Any]


@pytest.fixture
async def platform_of(
    nats_server_url: str, nats_namespace: str, database_url: str
) -> AsyncIterator[PlatformOf]:
    """Starts the platform with these delivery settings (over quick defaults for tests)."""
    async with AsyncExitStack() as stack:

        async def start(**settings: Any) -> Platform:
            receiver = await start_receiver(stack)
            session = await bootstrap(
                SessionConfig(
                    nats_url=nats_server_url,
                    nats_namespace=nats_namespace,
                    database_url=database_url,
                    api_tokens=TOKENS,
                    grpc_port=0,
                    ops_port=0,
                ),
                stack,
            )
            quick: dict[str, Any] = {
                "waiting_seconds": 3600.0,
                "check_seconds": 0.1,
                "retry_seconds": 0.05,
                "poll_seconds": 0.1,
                "secrets": {SECRET_REF: SECRET},
                "allow_private_addresses": True,  # the receiver is on this machine
            }
            gateway = await start_gateway(
                GatewayConfig(
                    port=0,
                    ops_port=0,
                    analytics_grpc_address="127.0.0.1:1",  # not asked here
                    session_grpc_address=f"127.0.0.1:{session.grpc_port}",
                    nats_url=nats_server_url,
                    nats_namespace=nats_namespace,
                    webhooks=WebhookDeliverySettings(**(quick | settings)),
                ),
                stack,
            )
            client = await nats.connect(nats_server_url)
            stack.push_async_callback(client.drain)
            http = aiohttp.ClientSession(f"http://127.0.0.1:{gateway.port}")
            stack.push_async_callback(http.close)
            return Platform(http, client.jetstream(), Topology(nats_namespace), receiver)

        yield start


async def test_a_hand_off_is_notified_signed_with_a_deterministic_delivery_id(
    platform_of: PlatformOf,
) -> None:
    platform: Platform = await platform_of()
    await platform.subscribe("escalations", ["message.received", "conversation.escalated"])
    await platform.customer_writes("I need a person, please", wa_id=customer())
    [received] = await platform.arrived("message.received")
    conversation_id = received.json["conversation_id"]

    async with platform.http.post(
        f"/api/v1/conversations/{conversation_id}/hand-off",
        json={"reason": "asked for a person"},
        headers=bearer(ADMIN),
    ) as response:
        assert response.status == 200, await response.text()
    [escalated] = await platform.arrived("conversation.escalated")

    for notification in (received, escalated):
        expected = hmac.new(SECRET.encode(), notification.body, hashlib.sha256).hexdigest()
        assert notification.headers["X-Threadline-Signature-256"] == f"sha256={expected}"
        assert notification.headers["Content-Type"] == "application/json"
        assert notification.headers["X-Threadline-Delivery"] == notification.json["id"]
    assert received.json["data"]["text"] == "I need a person, please"
    body = escalated.json
    assert (body["event"], body["conversation_id"], body["phone_number_id"]) == (
        "conversation.escalated",
        conversation_id,
        NUMBER,
    )
    assert (body["subscription_id"], body["data"]["reason"]) == (
        "escalations",
        "asked for a person",
    )
    assert body["data"]["status"] == "escalated"


async def test_the_assistant_failing_is_notified_as_ai_failed(platform_of: PlatformOf) -> None:
    platform: Platform = await platform_of()
    await platform.subscribe("ai", ["message.received", "conversation.ai_failed"])
    await platform.customer_writes("hello?", wa_id=customer())
    [received] = await platform.arrived("message.received")
    conversation_id = received.json["conversation_id"]
    request = ai_pb2.HandOffRequested(
        request_id=uuid4().hex,
        conversation_id=conversation_id,
        reason="the assistant is unavailable (openai:gpt-4.1-mini): 503 from the provider",
    )
    request.requested_at.FromDatetime(datetime.now(UTC))

    await platform.js.publish(
        platform.topology.publish_subject(HAND_OFF_REQUESTED),
        request.SerializeToString(),
        headers={"Nats-Msg-Id": request.request_id},
    )

    [failed] = await platform.arrived("conversation.ai_failed")
    assert failed.json["conversation_id"] == conversation_id
    assert failed.json["data"]["reason"].startswith("the assistant is unavailable")


async def test_a_500_is_retried_and_the_notification_delivered_once(
    platform_of: PlatformOf,
) -> None:
    platform: Platform = await platform_of()
    platform.receiver.answers[:] = [500, 503]
    await platform.subscribe("messages", ["message.received"])

    await platform.customer_writes("are you open today?", wa_id=customer())

    attempts = await platform.arrived("message.received", 3)
    await platform.settled()
    assert len(platform.receiver.of_kind("message.received")) == 3
    assert len({a.headers["X-Threadline-Delivery"] for a in attempts}) == 1
    assert len({a.body for a in attempts}) == 1  # the same bytes, the same signature
    delivered = await latest_values(platform.js, DELIVERED, namespace=platform.topology.namespace)
    assert [json.loads(value)["attempts"] for _, value, _ in delivered] == [3]


async def test_a_receiver_that_keeps_failing_is_dead_lettered_with_the_reason(
    platform_of: PlatformOf,
) -> None:
    platform: Platform = await platform_of(attempts=2)
    platform.receiver.answers[:] = [500, 500]
    await platform.subscribe("messages", ["message.received"])
    dead = await platform.js.subscribe(platform.topology.subject("dlq", "gateway", ">"))

    await platform.customer_writes("anyone?", wa_id=customer())

    letter = await dead.next_msg(timeout=20)
    assert "2 attempts; the receiver answered 500" in (letter.headers or {}).get(
        "Threadline-Dead-Reason", ""
    )
    assert json.loads(letter.data)["event"] == "message.received"
    await platform.settled()
    assert len(platform.receiver.of_kind("message.received")) == 2


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_receiver_on_a_private_address_is_refused_unless_allowed(
    platform_of: PlatformOf, host: str
) -> None:
    """A production gateway POSTs to public addresses only: an address literal and a name
    resolving to this machine fail, naming why, and are dead-lettered; nothing arrives."""
    platform: Platform = await platform_of(attempts=1, allow_private_addresses=False)
    url = platform.receiver.url.replace("127.0.0.1", host)
    await platform.subscribe("messages", ["message.received"], url=url)
    dead = await platform.js.subscribe(platform.topology.subject("dlq", "gateway", ">"))

    await platform.customer_writes("anyone there?", wa_id=customer())

    letter = await dead.next_msg(timeout=20)
    reason = (letter.headers or {}).get("Threadline-Dead-Reason", "")
    assert ("not a public address" in reason) or ("resolves to no public address" in reason)
    await platform.settled()
    assert platform.receiver.of_kind("message.received") == []


async def test_a_receiver_that_does_not_answer_holds_up_only_its_own_deliveries(
    platform_of: PlatformOf,
) -> None:
    platform: Platform = await platform_of(per_url=1)
    await platform.subscribe("slow", ["message.received"], url=platform.receiver.slow_url)
    await platform.subscribe("fast", ["message.received"])

    for text in ("one", "two", "three"):
        await platform.customer_writes(text, wa_id=customer())

    fast = await platform.arrived("message.received", 3)
    assert sorted(r.json["data"]["text"] for r in fast) == ["one", "three", "two"]
    assert platform.receiver.slow_received == 1  # one request at a time to the slow URL
    platform.receiver.slow_release.set()
    await platform.settled()
    assert platform.receiver.slow_received == 3


async def test_an_event_delivered_again_is_not_posted_again(platform_of: PlatformOf) -> None:
    platform: Platform = await platform_of()
    await platform.subscribe("messages", ["message.received"])
    await platform.customer_writes("first", wa_id=customer())
    [first] = await platform.arrived("message.received")
    await platform.settled()
    stream = platform.topology.stream(SESSION_EVENTS)
    subject = platform.topology.subject("session.events", "Conversation", "CustomerMessageReceived")
    stored = await platform.js.get_last_msg(stream, subject)
    assert events_pb.SessionEvent.FromString(stored.data or b"").customer_message_received

    # The same event again (another message id, so the stream keeps it): as after a crash
    # between the POST and the ack, or a relay publishing it twice.
    await platform.js.publish(
        subject, stored.data or b"", headers={"Nats-Msg-Id": f"again-{uuid4().hex}"}
    )
    await platform.settled()

    assert [r.headers["X-Threadline-Delivery"] for r in platform.receiver.received] == [
        first.headers["X-Threadline-Delivery"]
    ]


async def test_a_customer_waiting_past_the_threshold_is_notified_once(
    platform_of: PlatformOf,
) -> None:
    platform: Platform = await platform_of(waiting_seconds=0.5)
    await platform.subscribe("waiting", ["customer.waiting"])

    await platform.customer_writes("hello, anybody there?", wa_id=customer())
    await platform.customer_writes("hello again", wa_id=customer())

    [waiting] = await platform.arrived("customer.waiting")
    body = waiting.json
    assert body["event"] == "customer.waiting"
    assert body["data"]["waiting_seconds"] >= 0
    await platform.settled()

    async def nobody_waits() -> bool:
        left = await latest_values(platform.js, WAITING, namespace=platform.topology.namespace)
        return not left

    await eventually(nobody_waits, timeout=20)
    await platform.settled()
    by_conversation = [
        r.json["conversation_id"] for r in platform.receiver.of_kind("customer.waiting")
    ]
    assert len(by_conversation) == len(set(by_conversation)) == 2


async def test_a_reply_ends_the_wait_and_a_removed_subscription_gets_nothing_more(
    platform_of: PlatformOf,
) -> None:
    platform: Platform = await platform_of()  # a customer waits an hour before anyone is told
    await platform.subscribe("waiting", ["message.received", "customer.waiting"])
    await platform.customer_writes("hello?", wa_id=customer())
    [received] = await platform.arrived("message.received")
    await platform.settled()
    namespace = platform.topology.namespace
    assert len(await latest_values(platform.js, WAITING, namespace=namespace)) == 1

    async with platform.http.post(
        f"/api/v1/conversations/{received.json['conversation_id']}/messages",
        json={"type": "text", "text": "Hello! How can we help?"},
        headers=bearer(ADMIN),
    ) as response:
        assert response.status == 202, await response.text()
    await platform.settled()
    async with platform.http.delete("/api/v1/webhooks/waiting", headers=bearer(ADMIN)) as response:
        assert response.status == 200, await response.text()
    await platform.customer_writes("still there?", wa_id=customer())
    await platform.settled()

    assert await latest_values(platform.js, WAITING, namespace=namespace) == []
    assert [r.json["data"]["text"] for r in platform.receiver.received] == ["hello?"]


async def test_subscriptions_through_the_rest_api(platform_of: PlatformOf) -> None:
    platform: Platform = await platform_of()
    created = await platform.subscribe("escalations", ["conversation.escalated"])
    again = await platform.subscribe("escalations", ["conversation.escalated"])

    async with platform.http.get("/api/v1/webhooks", headers=bearer(TENANT)) as response:
        theirs = await response.json()
    async with platform.http.get("/api/v1/webhooks", headers=bearer(ADMIN)) as response:
        listed = await response.json()
    async with platform.http.put(
        "/api/v1/webhooks/escalations",
        json={"phone_number_id": NUMBER, "url": "ftp://x", "secret_ref": SECRET_REF, "events": []},
        headers=bearer(ADMIN),
    ) as response:
        refused = (response.status, await response.json())
    async with platform.http.put(
        "/api/v1/webhooks/theirs",
        json={
            "phone_number_id": NUMBER,
            "url": platform.receiver.url,
            "secret_ref": SECRET_REF,
            "events": ["customer.waiting"],
        },
        headers=bearer(TENANT),
    ) as response:
        not_theirs = response.status
    async with platform.http.delete(
        "/api/v1/webhooks/escalations", headers=bearer(ADMIN)
    ) as response:
        removed = await response.json()
    async with platform.http.get("/api/v1/webhooks", headers=bearer(ADMIN)) as response:
        after = await response.json()

    assert (created["created"], created["changed"], created["webhook"]["version"]) == (
        True,
        True,
        1,
    )
    assert (again["created"], again["changed"]) == (False, False)
    assert created["webhook"] == {
        "id": "escalations",
        "phone_number_id": NUMBER,
        "url": platform.receiver.url,
        "secret_ref": SECRET_REF,
        "events": ["conversation.escalated"],
        "enabled": True,
        "version": 1,
    }
    assert theirs == {"webhooks": []}
    assert [w["id"] for w in listed["webhooks"]] == ["escalations"]
    assert refused[0] == 400 and refused[1]["error"]["message"].startswith("url:")
    assert not_theirs == 403
    assert (removed["changed"], removed["webhook"]["enabled"]) == (True, False)
    assert after == {"webhooks": []}


async def test_every_gateway_holds_the_subscriptions_another_wrote_from_its_start_on(
    nats_server_url: str, nats_namespace: str
) -> None:
    """The subscriptions are watched, not read per event: one written before a gateway starts
    is held when its start returns; one another gateway writes later arrives within moments."""
    client = await nats.connect(nats_server_url)
    try:
        js, topology = client.jetstream(), Topology(nats_namespace)
        bucket = await open_bucket(
            js, SUBSCRIPTIONS, namespace=nats_namespace, keep_for=None, description=""
        )

        def with_subscription(subscription_id: str) -> Callable[[bytes | None], bytes]:
            def change(raw: bytes | None) -> bytes:
                table = json.loads(raw) if raw else {}
                table[subscription_id] = Subscription(
                    subscription_id, NUMBER, "https://example.com/hooks", SECRET_REF, (), True, 1
                ).to_json()
                return json.dumps(table).encode()

            return change

        await change_value(bucket, SUBSCRIPTIONS_KEY, with_subscription("before"))
        delivery = WebhookDelivery(client, topology, WebhookDeliverySettings())
        await delivery.start()
        try:
            assert set(delivery.subscriptions) == {"before"}

            await change_value(bucket, SUBSCRIPTIONS_KEY, with_subscription("later"))

            await eventually(lambda: set(delivery.subscriptions) == {"before", "later"})
        finally:
            await delivery.stop()
    finally:
        await client.drain()


async def test_an_unreadable_subscriptions_value_stops_no_gateway_from_starting(
    nats_server_url: str, nats_namespace: str
) -> None:
    """Held subscriptions stay as they were; the next readable value is taken."""
    client = await nats.connect(nats_server_url)
    try:
        bucket = await open_bucket(
            client.jetstream(),
            SUBSCRIPTIONS,
            namespace=nats_namespace,
            keep_for=None,
            description="",
        )
        await bucket.put(SUBSCRIPTIONS_KEY, b"{not json")
        delivery = WebhookDelivery(client, Topology(nats_namespace), WebhookDeliverySettings())
        await delivery.start()
        try:
            assert delivery.subscriptions == {}
            readable = Subscription(
                "readable", NUMBER, "https://example.com/hooks", SECRET_REF, (), True, 1
            )
            await bucket.put(
                SUBSCRIPTIONS_KEY, json.dumps({"readable": readable.to_json()}).encode()
            )

            await eventually(lambda: set(delivery.subscriptions) == {"readable"})
        finally:
            await delivery.stop()
    finally:
        await client.drain()
