"""What the platform kept, read back while the fuzzer runs.

`EventLogWatcher` follows the session's `EventLog` (ReadAllPages): how often each tracked wamid
became a customer message (valid ones exactly once, unsigned ones never), and the ids of tenant
A's conversations and contacts for the tenant probes. `StreamWatcher` follows `INGEST_RAW`,
`INGEST_EVENTS` and `DEAD_LETTERS` and reports anything that came from an unsigned body.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from dataclasses import dataclass, field

import grpc
import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from tests.fuzz.cases import IdPool
from tests.fuzz.platform import Target
from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2, session_pb2_grpc
from threadline.messaging.topology import (
    AI_EVENTS,
    DEAD_LETTERS,
    INGEST_EVENTS,
    INGEST_RAW,
    OUTBOUND_EVENTS,
    SESSION_EVENTS,
    Topology,
)

ORIGINAL_SHA256 = "Threadline-Original-Sha256"
DEAD_REASON = "Threadline-Dead-Reason"
# Dead letters that mean a stored event is missing downstream: the read models dropped it, or
# the relay could not publish it (events are bounded by construction, so neither may happen).
MUST_NOT_DEAD_LETTER = ("analytics.", "session.unpublishable")


@dataclass
class EventLogWatcher:
    target: Target
    pool: IdPool
    tracked: set[str] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)
    position: int = 0
    events: int = 0
    failures: list[str] = field(default_factory=list)

    async def catch_up(self) -> None:
        """Read the log from where the last call stopped."""
        auth = (("authorization", f"Bearer {self.target.tokens.admin}"),)
        demo = self.target.numbers.demo
        async with grpc.aio.insecure_channel(
            self.target.session_address,
            options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)],
        ) as channel:
            log = session_pb2_grpc.EventLogStub(channel)
            # Small pages: an event may be tens of kilobytes.
            request = session_pb2.ReadAllPagesRequest(
                from_position=self.position + 1, page_size=200
            )
            try:
                async for page in log.ReadAllPages(request, metadata=auth, timeout=120):
                    for event in page.events:
                        self._see(event, demo)
            except grpc.aio.AioRpcError as error:
                failure = (
                    f"EventLog.ReadAllPages from {self.position + 1} answered "
                    f"{error.code().name}: {(error.details() or '')[:300]}"
                )
                if failure not in self.failures:
                    self.failures.append(failure)

    def _see(self, event: events_pb.SessionEvent, demo: str) -> None:
        self.position = max(self.position, event.position)
        self.events += 1
        body = event.WhichOneof("body")
        if body == "customer_message_received":
            wamid = event.customer_message_received.wamid
            if wamid in self.tracked:
                self.counts[wamid] += 1
        elif body == "conversation_started" and event.conversation_started.phone_number_id == demo:
            self.pool.conversations_a.append(event.aggregate_id)
        elif body == "contact_registered" and event.contact_registered.phone_number_id == demo:
            self.pool.contacts_a.append(event.aggregate_id)


@dataclass
class StreamWatcher:
    """Reads every new message of the ingest streams and dead letters once (ephemeral
    consumers, no acks); `found` lists what an unsigned body left behind."""

    target: Target
    unsigned_digests: set[str] = field(default_factory=set)
    signed_digests: set[str] = field(default_factory=set)
    unsigned_wamids: set[str] = field(default_factory=set)
    found: list[str] = field(default_factory=list)
    scanned: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)  # "<service>.<slug>"
    # Why facts and events were dead-lettered after ingest (allowed for hostile input, but a
    # programming error among them is worth a look).
    dead_reasons: Counter[str] = field(default_factory=Counter)
    _client: NatsClient | None = None
    _subscriptions: dict[str, JetStreamContext.PullSubscription] = field(default_factory=dict)

    async def start(self) -> None:
        self._client = await nats.connect(self.target.nats_url, name="threadline-fuzz")
        js = self._client.jetstream()
        topology = Topology(self.target.namespace)
        for stream in (INGEST_RAW, INGEST_EVENTS, DEAD_LETTERS):
            self._subscriptions[stream] = await js.pull_subscribe(
                f"{topology.root(stream)}.>",
                stream=topology.stream(stream),
                config=ConsumerConfig(
                    ack_policy=AckPolicy.NONE,
                    deliver_policy=DeliverPolicy.ALL,
                    inactive_threshold=600.0,
                    max_ack_pending=-1,
                ),
            )

    async def stop(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()

    async def backlog(self) -> dict[str, tuple[int, int]]:
        """The platform's durable consumers that still have work: pending and unacknowledged."""
        assert self._client is not None
        js = self._client.jetstream()
        topology = Topology(self.target.namespace)
        found = {}
        for stream in (INGEST_EVENTS, SESSION_EVENTS, AI_EVENTS, OUTBOUND_EVENTS):
            for info in await js.consumers_info(topology.stream(stream)):
                name = info.config.durable_name
                left = (info.num_pending or 0, info.num_ack_pending or 0)
                if name and any(left):
                    found[name] = left
        return found

    async def scan(self) -> None:
        """Everything published since the last scan."""
        for stream, subscription in self._subscriptions.items():
            while True:
                try:
                    messages = await subscription.fetch(256, timeout=0.5)
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                for message in messages:
                    self.scanned[stream] += 1
                    headers = message.headers or {}
                    if stream == DEAD_LETTERS:
                        self._dead_letter(message.subject, headers)
                    self._check(stream, message.data, headers)

    def _dead_letter(self, subject: str, headers: dict[str, str]) -> None:
        root = Topology(self.target.namespace).root(DEAD_LETTERS) + "."
        where = subject.removeprefix(root)
        self.dead_letters[where] += 1
        if not where.startswith("ingest."):
            self.dead_reasons[f"{where}: {headers.get(DEAD_REASON, '')[:120]}"] += 1
        if where.startswith(MUST_NOT_DEAD_LETTER):
            reason = headers.get(DEAD_REASON, "")[:300]
            self.found.append(f"{where} dead-lettered a stored event: {reason}")

    def _check(self, stream: str, data: bytes, headers: dict[str, str]) -> None:
        if stream == INGEST_EVENTS:
            msg_id = headers.get("Nats-Msg-Id", "")
            if msg_id in self.unsigned_wamids or msg_id.split(":", 1)[0] in self.unsigned_wamids:
                self.found.append(f"{stream} holds a fact of an unsigned body ({msg_id})")
            return
        digests = {hashlib.sha256(data).hexdigest(), headers.get(ORIGINAL_SHA256, "")}
        kept = (digests & self.unsigned_digests) - self.signed_digests
        if kept:
            self.found.append(f"{stream} holds an unsigned body (sha256 {sorted(kept)[0]})")
