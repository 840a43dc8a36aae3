"""Outgoing webhook delivery (issue 13 item 5), run by the gateway as background tasks.

It lives in the gateway, which holds no state of its own: everything it must remember is on
NATS. A durable JetStream consumer on the session's events (`gateway-webhooks`) reads them in
order and keeps, in the key-value buckets below, what later events need, then acks:

- `GATEWAY_WEBHOOKS`: the subscriptions (one key, `subscriptions`, from each
  `WebhookSubscriptionConfigured`) and each conversation's business number and channel (from
  `Conversation.Started`: a hand-off names neither). Every gateway process watches the
  `subscriptions` key and holds it in memory (its own changes too, at once), so no event
  waits on reading it; the consumer starts once the watch has the key's current value.
- `GATEWAY_WEBHOOK_WAITING`: conversations whose customer wrote and has had no reply since
  (the first unanswered message; any queued reply, or the conversation closing, clears it).
- `GATEWAY_WEBHOOK_OUTBOX`: deliveries to make, one per event and matching subscription, by
  their deterministic id (`notifications.delivery_id`): created only when absent, so a
  redelivered event adds nothing.
- `GATEWAY_WEBHOOK_DELIVERED`: the ids delivered (kept `DELIVERED_FOR`): checked before an
  outbox entry is made and again before each POST, so one event is never POSTed twice.

A sender loop POSTs what the outbox holds, each entry claimed first by compare-and-set so two
gateways never send it at once; at most `per_url` requests to one URL at a time, each bounded
by `timeout_seconds`, so a slow receiver holds up only its own deliveries. A failure (no
answer, a status other than 2xx) is tried again after an exponential back-off with jitter; after
`attempts` tries the delivery is dead-lettered (`dlq.gateway.webhook_failed`, with the reason)
and dropped. A timer looks at the waiting conversations every `check_seconds` and notifies
`customer.waiting` once per unanswered message older than `waiting_seconds`.

Receivers must be on public addresses (`servicekit.egress`: a name resolving only to private,
loopback or link-local addresses, or such an address itself, fails like an unreachable
receiver, naming why) unless `THREADLINE_WEBHOOK_ALLOW_PRIVATE_ADDRESSES` allows them.

Conversations on the test chat's channel notify nothing: no customer is waiting there.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from threadline.contracts.events.v1 import session_pb2 as pb
from threadline.gateway.webhooks.notifications import (
    CUSTOMER_WAITING,
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    Subscription,
    body_bytes,
    delivery_id,
    matching,
    notice_of,
    signature,
)
from threadline.messaging.bus import JetStreamBus
from threadline.messaging.consumer import (
    ACK,
    ConsumerLoop,
    ConsumerSettings,
    Delivery,
    Retry,
    Settlement,
    one_at_a_time,
)
from threadline.messaging.dead_letters import dead_letter
from threadline.messaging.failures import Backoff, describe
from threadline.messaging.key_value import change_value, latest_values, open_bucket, plain_key
from threadline.messaging.topology import GATEWAY_WEBHOOKS, Topology
from threadline.servicekit.config import ConfigError, env_bool, env_float, env_int
from threadline.servicekit.egress import PublicOnlyResolver, refused_address

log = logging.getLogger(__name__)
# How long a stop waits for the consumer to finish the event in hand before cutting it.
STOP_GRACE_SECONDS = 5.0
# Waiting for the subscriptions' current value at start, and between two changes of them.
WATCH_START_SECONDS = 10.0
# The server removes the watch of a gateway that died after this long.
WATCH_INACTIVE_SECONDS = 30.0

SUBSCRIPTIONS = "GATEWAY_WEBHOOKS"
WAITING = "GATEWAY_WEBHOOK_WAITING"
OUTBOX = "GATEWAY_WEBHOOK_OUTBOX"
DELIVERED = "GATEWAY_WEBHOOK_DELIVERED"
DELIVERED_FOR = timedelta(days=7)
SUBSCRIPTIONS_KEY = "subscriptions"
# A customer message unanswered for longer than this is history, not a customer waiting (the
# WhatsApp window closed): a first start reading old events notifies none of them.
WAITING_AT_MOST = timedelta(hours=24)
TEST_CHANNEL = "test"
CLOSED = ("completed", "abandoned")


@dataclass(frozen=True, slots=True)
class WebhookDeliverySettings:
    """How the gateway delivers webhooks (`THREADLINE_WEBHOOK_*`)."""

    waiting_seconds: float = 300.0  # customer.waiting after this long without a reply
    check_seconds: float = 5.0  # how often waiting conversations are looked at
    attempts: int = 8  # POSTs of one delivery before it is dead-lettered
    retry_seconds: float = 2.0  # the first back-off; doubled each attempt, up to retry_limit
    retry_limit_seconds: float = 600.0
    timeout_seconds: float = 10.0  # one POST, connection to answer
    per_url: int = 4  # requests in flight to one URL
    poll_seconds: float = 1.0  # how often the outbox is looked at without news
    # Receivers on private, loopback or link-local addresses (`servicekit.egress`): refused
    # unless allowed — a development platform, whose receivers run on the same machine.
    allow_private_addresses: bool = False
    # Where the signing secrets are read, by each subscription's `secret_ref`.
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookDeliverySettings:
        settings = cls(
            waiting_seconds=env_float(env, "THREADLINE_WEBHOOK_WAITING_SECONDS", 300.0),
            check_seconds=env_float(env, "THREADLINE_WEBHOOK_CHECK_SECONDS", 5.0),
            attempts=env_int(env, "THREADLINE_WEBHOOK_ATTEMPTS", 8),
            retry_seconds=env_float(env, "THREADLINE_WEBHOOK_RETRY_SECONDS", 2.0),
            retry_limit_seconds=env_float(env, "THREADLINE_WEBHOOK_RETRY_LIMIT_SECONDS", 600.0),
            timeout_seconds=env_float(env, "THREADLINE_WEBHOOK_TIMEOUT_SECONDS", 10.0),
            per_url=env_int(env, "THREADLINE_WEBHOOK_PER_URL", 4),
            poll_seconds=env_float(env, "THREADLINE_WEBHOOK_POLL_SECONDS", 1.0),
            allow_private_addresses=env_bool(
                env, "THREADLINE_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False
            ),
            secrets=dict(env),
        )
        for name, value in (
            ("WAITING_SECONDS", settings.waiting_seconds),
            ("CHECK_SECONDS", settings.check_seconds),
            ("ATTEMPTS", settings.attempts),
            ("RETRY_SECONDS", settings.retry_seconds),
            ("TIMEOUT_SECONDS", settings.timeout_seconds),
            ("PER_URL", settings.per_url),
            ("POLL_SECONDS", settings.poll_seconds),
        ):
            if value <= 0:
                raise ConfigError(f"Config 'THREADLINE_WEBHOOK_{name}' must be more than 0.")
        return settings


def _now() -> float:
    return time.time()


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


async def _get(bucket: KeyValue, key: str) -> tuple[Any, int] | None:
    try:
        entry = await bucket.get(key)
    except (KeyNotFoundError, KeyDeletedError):
        return None
    if not entry.value:
        return None
    return json.loads(entry.value), entry.revision or 0


async def _create(bucket: KeyValue, key: str, value: Any) -> bool:
    """Write `key` only when it does not exist; False when it does."""
    try:
        await bucket.create(key, _json(value))
    except KeyWrongLastSequenceError:
        return False
    return True


async def _next_change(watcher: KeyValue.KeyWatcher) -> KeyValue.Entry | None:
    """The watched key's next value (None once its current one has been given, at start);
    raises nats' TimeoutError after `WATCH_START_SECONDS` without one."""
    entry: KeyValue.Entry | None = await watcher.updates(  # type: ignore[no-untyped-call]
        timeout=WATCH_START_SECONDS
    )
    return entry


class WebhookDelivery:
    """The consumer, the sender and the waiting timer of one gateway process."""

    def __init__(self, nats: Client, topology: Topology, settings: WebhookDeliverySettings) -> None:
        self._nats, self._topology, self._settings = nats, topology, settings
        self._js = nats.jetstream()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: ConsumerLoop | None = None
        self._news = asyncio.Event()
        self._stopping = asyncio.Event()
        self._in_flight: dict[str, int] = {}  # URL -> requests
        self._sending: set[str] = set()  # delivery ids
        self._posts: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None
        self._backoff = Backoff(first=settings.retry_seconds, limit=settings.retry_limit_seconds)
        # The `subscriptions` key as last seen (watched), and its revision.
        self._table: dict[str, Subscription] = {}
        self._table_revision = 0

    async def start(self) -> None:
        namespace, open_ = self._topology.namespace, self._js
        self._subscriptions = await open_bucket(
            open_,
            SUBSCRIPTIONS,
            namespace=namespace,
            keep_for=None,
            description="Outgoing webhooks: subscriptions, and each conversation's number",
        )
        self._waiting = await open_bucket(
            open_,
            WAITING,
            namespace=namespace,
            keep_for=None,
            description="Outgoing webhooks: conversations whose customer waits for a reply",
        )
        self._outbox = await open_bucket(
            open_,
            OUTBOX,
            namespace=namespace,
            keep_for=None,
            description="Outgoing webhooks: deliveries to make",
        )
        self._delivered = await open_bucket(
            open_,
            DELIVERED,
            namespace=namespace,
            keep_for=DELIVERED_FOR,
            description="Outgoing webhooks: the ids delivered (never POSTed again)",
        )
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                resolver=None if self._settings.allow_private_addresses else PublicOnlyResolver()
            ),
            timeout=aiohttp.ClientTimeout(total=self._settings.timeout_seconds),
            headers={"User-Agent": "Threadline-Webhooks/1"},
        )
        watcher = await self._subscriptions.watch(
            SUBSCRIPTIONS_KEY, inactive_threshold=WATCH_INACTIVE_SECONDS
        )
        while (entry := await _next_change(watcher)) is not None:
            self._keep_table(entry.value, entry.revision)
        self._loop = ConsumerLoop(
            js=self._js,
            dead_letters=JetStreamBus(self._js),
            topology=self._topology,
            service="gateway",
            settings=ConsumerSettings.of(self._topology, GATEWAY_WEBHOOKS, batch_size=64),
            handler=one_at_a_time(self.handle),
        )
        self._tasks = [
            asyncio.create_task(self._loop.run()),
            asyncio.create_task(self._send_forever()),
            asyncio.create_task(self._check_waiting_forever()),
            asyncio.create_task(self._watch_forever(watcher)),
        ]

    async def stop(self) -> None:
        # The loops end at their next turn even if a cancellation below is lost (Python 3.11's
        # wait_for and nats-py's requests can swallow one that lands as they time out).
        self._stopping.set()
        if self._loop is not None:
            self._loop.stop()
        # A POST cut short is tried again once its claim runs out (by this or another gateway).
        for task in [*self._tasks[1:], *self._posts]:
            task.cancel()
        # The consumer finishes the event in hand; one waiting on a fetch is cut after the
        # grace (its events are redelivered), as the services' consumers are (Background).
        consumer = self._tasks[:1]
        if consumer:
            _, running = await asyncio.wait(consumer, timeout=STOP_GRACE_SECONDS)
            for task in running:
                task.cancel()
        for task in [*self._tasks, *self._posts]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._http is not None:
            await self._http.close()

    # Reading the session's events -----------------------------------------------------

    async def handle(self, delivery: Delivery) -> Settlement:
        event = pb.SessionEvent.FromString(delivery.data)
        body = event.WhichOneof("body")
        if body == "webhook_subscription_configured":
            await self._keep_subscription(Subscription.of(event.webhook_subscription_configured))
            return ACK
        if event.aggregate_type != "Conversation":
            return ACK
        conversation = event.aggregate_id
        if body == "conversation_started":
            started = event.conversation_started
            await self._subscriptions.put(
                plain_key("conversation", conversation),
                _json({"number": started.phone_number_id, "channel": started.channel}),
            )
            return ACK
        if self._table and (
            body == "outbound_message_queued"
            or (
                body == "conversation_status_changed"
                and event.conversation_status_changed.status in CLOSED
            )
        ):
            # (With no subscription ever configured no customer can be waiting: none was
            # recorded, and a delete would still write a marker to the bucket.)
            await self._stop_waiting(conversation)
        notice = notice_of(event)
        if notice is None:
            return ACK
        subscriptions = self._table.values()
        if not any(s.enabled for s in subscriptions):
            return ACK
        place = await _get(self._subscriptions, plain_key("conversation", conversation))
        if place is None:
            return Retry(f"conversation {conversation}'s business number is not known yet")
        number, channel = place[0]["number"], place[0].get("channel", "")
        if channel == TEST_CHANNEL:
            return ACK
        occurred = event.occurred_at.ToDatetime(tzinfo=UTC)
        if body == "customer_message_received":
            await _create(
                self._waiting,
                plain_key("waiting", conversation),
                {
                    "event_id": event.event_id,
                    "since": occurred.timestamp(),
                    "number": number,
                    "conversation_id": conversation,
                    "message_id": event.customer_message_received.message_id,
                    "subject": delivery.subject,
                },
            )
        for subscription in matching(subscriptions, notice.kind, number):
            await self._enqueue(
                subscription,
                source_event_id=event.event_id,
                kind=notice.kind,
                occurred_at=occurred,
                number=number,
                conversation=conversation,
                data=notice.data,
                subject=delivery.subject,
            )
        return ACK

    async def _keep_subscription(self, subscription: Subscription) -> None:
        def change(current: bytes | None) -> bytes | None:
            table = json.loads(current) if current else {}
            known = table.get(subscription.subscription_id)
            if known is not None and int(known.get("version", 0)) >= subscription.version:
                return None  # read out of order by another gateway: a later one is kept
            table[subscription.subscription_id] = subscription.to_json()
            return _json(table)

        value, revision = await change_value(self._subscriptions, SUBSCRIPTIONS_KEY, change)
        self._keep_table(value, revision)  # the events after this one see it, watch or not

    async def _watch_forever(self, watcher: KeyValue.KeyWatcher) -> None:
        """The other gateways' changes to the subscriptions (and this one's, again)."""
        try:
            while not self._stopping.is_set():
                try:
                    entry = await _next_change(watcher)
                    if entry is not None:
                        self._keep_table(entry.value, entry.revision)
                except NatsTimeoutError:
                    continue
                except Exception as error:  # one bad value, or NATS away, stops nothing
                    log.warning("watching the webhook subscriptions: %s", describe(error))
                    await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()  # type: ignore[no-untyped-call]  # nats-py leaves it untyped

    def _keep_table(self, value: bytes | None, revision: int | None) -> None:
        """The subscriptions as the key's `value` at `revision` says, unless newer is held
        (a delete or purge, `value` empty, leaves none)."""
        if revision is None or revision <= self._table_revision:
            return
        try:
            table = json.loads(value) if value else {}
            held = {key: Subscription.from_json(found) for key, found in table.items()}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            # Only gateways write the key; a value they cannot read must not stop this one
            # from starting (its HTTP API with it): what was held is kept, and said.
            log.error(
                "the webhook subscriptions at revision %d are unreadable: %r", revision, error
            )
            return
        self._table, self._table_revision = held, revision

    @property
    def subscriptions(self) -> dict[str, Subscription]:
        """The subscriptions this process holds, by id (removed ones included, disabled)."""
        return dict(self._table)

    async def _stop_waiting(self, conversation: str) -> None:
        with contextlib.suppress(KeyNotFoundError, KeyDeletedError):
            await self._waiting.delete(plain_key("waiting", conversation))

    async def _enqueue(
        self,
        subscription: Subscription,
        *,
        source_event_id: str,
        kind: str,
        occurred_at: datetime,
        number: str,
        conversation: str,
        data: Mapping[str, Any],
        subject: str,
    ) -> None:
        """An outbox entry for this event and subscription, unless one was made or delivered."""
        identifier = delivery_id(source_event_id, subscription.subscription_id, kind)
        key = plain_key("delivery", identifier)
        if await _get(self._delivered, key) is not None:
            return
        body = body_bytes(
            delivery=identifier,
            kind=kind,
            occurred_at=occurred_at,
            subscription_id=subscription.subscription_id,
            phone_number_id=number,
            conversation_id=conversation,
            data=data,
        )
        entry = {
            "id": identifier,
            "kind": kind,
            "subscription_id": subscription.subscription_id,
            "url": subscription.url,
            "secret_ref": subscription.secret_ref,
            "body": body.decode(),
            "subject": subject,
            "attempt": 0,
            "due": 0.0,
            "claimed_until": 0.0,
            "last_error": "",
        }
        if await _create(self._outbox, key, entry):
            self._news.set()

    # Customers waiting ----------------------------------------------------------------

    async def _check_waiting_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.check_waiting()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("looking at waiting customers failed: %s", describe(error))
            await asyncio.sleep(self._settings.check_seconds)

    async def check_waiting(self) -> None:
        """Notify `customer.waiting` once for each customer waiting past the threshold."""
        now = _now()
        found = await latest_values(self._js, WAITING, namespace=self._topology.namespace)
        for key, raw, revision in found:
            waiting = json.loads(raw)
            since = float(waiting["since"])
            if now - since < self._settings.waiting_seconds:
                continue
            if now - since <= WAITING_AT_MOST.total_seconds():
                subscriptions = self._table.values()
                for subscription in matching(subscriptions, CUSTOMER_WAITING, waiting["number"]):
                    await self._enqueue(
                        subscription,
                        source_event_id=waiting["event_id"],
                        kind=CUSTOMER_WAITING,
                        occurred_at=datetime.fromtimestamp(
                            since + self._settings.waiting_seconds, UTC
                        ),
                        number=waiting["number"],
                        conversation=waiting["conversation_id"],
                        data={
                            "message_id": waiting["message_id"],
                            "waiting_since": datetime.fromtimestamp(since, UTC).isoformat(),
                            "waiting_seconds": int(now - since),
                        },
                        subject=waiting.get("subject", ""),
                    )
            with contextlib.suppress(KeyWrongLastSequenceError, KeyNotFoundError):
                await self._waiting.delete(key, last=revision)

    # Sending --------------------------------------------------------------------------

    async def _send_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("sending webhooks failed: %s", describe(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), self._settings.poll_seconds)
            self._news.clear()

    async def send_due(self) -> None:
        """Start a POST for each due outbox entry its URL has room for."""
        now = _now()
        entries = await latest_values(self._js, OUTBOX, namespace=self._topology.namespace)
        for key, raw, revision in entries:
            entry = json.loads(raw)
            url = entry["url"]
            if entry["id"] in self._sending or entry["due"] > now or entry["claimed_until"] > now:
                continue
            if self._in_flight.get(url, 0) >= self._settings.per_url:
                continue
            entry["claimed_until"] = now + self._settings.timeout_seconds + 30.0
            try:
                claimed = await self._outbox.update(key, _json(entry), last=revision)
            except KeyWrongLastSequenceError:
                continue  # another gateway took it, or it changed
            self._sending.add(entry["id"])
            self._in_flight[url] = self._in_flight.get(url, 0) + 1
            task = asyncio.create_task(self._send(key, entry, claimed))
            self._posts.add(task)
            task.add_done_callback(self._posts.discard)
            task.add_done_callback(functools.partial(self._sent, entry))

    def _sent(self, entry: Mapping[str, Any], _task: asyncio.Task[None]) -> None:
        self._sending.discard(entry["id"])
        url = entry["url"]
        self._in_flight[url] = self._in_flight.get(url, 1) - 1
        if self._in_flight[url] <= 0:
            del self._in_flight[url]
        self._news.set()  # room for the next one to that URL

    async def _send(self, key: str, entry: dict[str, Any], revision: int) -> None:
        try:
            if await _get(self._delivered, key) is not None or not await self._wanted(entry):
                await self._outbox.delete(key)
                return
            problem = await self._post(entry)
            if problem is None:
                await self._delivered.put(
                    key, _json({"at": _now(), "attempts": entry["attempt"] + 1})
                )
                await self._outbox.delete(key)
                return
            await self._failed(key, entry, revision, problem)
        except Exception as error:  # NATS away: the claim runs out and it is tried again
            log.warning("webhook delivery %s: %s", entry["id"], describe(error))

    async def _wanted(self, entry: Mapping[str, Any]) -> bool:
        """Whether the entry's subscription still exists, enabled (one disabled or removed
        since gets nothing more)."""
        wanted = entry.get("subscription_id", "")
        return any(s.subscription_id == wanted and s.enabled for s in self._table.values())

    async def _post(self, entry: Mapping[str, Any]) -> str | None:
        """None when the receiver took it (2xx); else why not."""
        secret = self._settings.secrets.get(entry["secret_ref"], "")
        if not secret:
            return f"the signing secret's environment variable {entry['secret_ref']} is not set"
        body = entry["body"].encode()
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: entry["kind"],
            DELIVERY_HEADER: entry["id"],
            SIGNATURE_HEADER: signature(secret, body),
        }
        assert self._http is not None
        if not self._settings.allow_private_addresses and (
            refused := refused_address(entry["url"])
        ):
            return f"refused: {refused} (THREADLINE_WEBHOOK_ALLOW_PRIVATE_ADDRESSES)"
        try:
            async with self._http.post(entry["url"], data=body, headers=headers) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"the receiver answered {response.status}"
        except TimeoutError:
            return f"no answer within {self._settings.timeout_seconds:g}s"
        except aiohttp.ClientError as error:
            return f"cannot reach the receiver: {describe(error)}"

    async def _failed(self, key: str, entry: dict[str, Any], revision: int, problem: str) -> None:
        entry["attempt"] += 1
        entry["last_error"] = problem
        if entry["attempt"] >= self._settings.attempts:
            reason = (
                f"webhook {entry['id']} to {entry['url']}: {entry['attempt']} attempts; {problem}"
            )
            log.warning("%s; dead-lettered", reason)
            await dead_letter(
                JetStreamBus(self._js),
                self._topology,
                service="gateway",
                slug="webhook_failed",
                reason=reason,
                subject=entry.get("subject", ""),
                data=entry["body"].encode(),
                headers={DELIVERY_HEADER: entry["id"], EVENT_HEADER: entry["kind"]},
            )
            await self._outbox.delete(key)
            return
        entry["due"] = _now() + self._backoff.delay(entry["attempt"] - 1)
        entry["claimed_until"] = 0.0
        with contextlib.suppress(KeyWrongLastSequenceError):
            await self._outbox.update(key, _json(entry), last=revision)
