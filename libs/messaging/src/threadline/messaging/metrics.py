"""What JetStream knows about a service, on its `/metrics`: its consumers' lag and
redeliveries, its dead letters waiting, and (for the session) the relay's lag.

Read just before a scrape (`servicekit.metrics.Refresher`: at most once a second, bounded in
time), never per message: one `CONSUMER.INFO` per durable consumer the process owns, one
`STREAM.INFO` of `DEAD_LETTERS` (with its subjects under `dlq.<service>.>`), and, for the
relay, the event store's last position. A read that fails leaves that part's gauges out until
the next one succeeds (and counts `threadline_metrics_refresh_failures_total`).

Every instance of a service in a process adds its `JetStreamWatch` to the one collector,
`JETSTREAM`, registered in the default registry (tests run several services in one process).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Protocol

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from threadline.messaging.topology import DEAD_LETTERS, Durable, Topology, durables_of
from threadline.servicekit.metrics import Refresher

MAX_DEAD_LETTER_SUBJECTS = 200  # slugs are few; a flood of new ones is not exported
HEAD_HISTORY = 1000  # the event store heads remembered to date the oldest unpublished event


@dataclass(frozen=True, slots=True)
class ConsumerState:
    stream: str
    consumer: str
    pending: int
    ack_pending: int
    redelivered: int


@dataclass(frozen=True, slots=True)
class RelayState:
    stream: str
    pending: int
    seconds_behind: float


class RelayView(Protocol):
    """What the lag reads of a relay (the session's: those of the partitions this instance
    holds; `resumed` is false while it holds none, and no lag is reported)."""

    @property
    def resumed(self) -> bool: ...

    @property
    def position(self) -> int: ...

    @property
    def stream(self) -> str: ...


class RelayLag:
    """How far the outbox relay is behind the event store: events stored but not yet
    published (the store's last position minus the relay's), and how long the oldest of them
    has waited (dated by the first read that saw the store reach it, so to a scrape's
    interval)."""

    def __init__(self, relay: RelayView, head: Callable[[], int]) -> None:
        self._relay = relay
        self._head = head  # blocking: the event store's last position
        self._seen: deque[tuple[float, int]] = deque(maxlen=HEAD_HISTORY)

    async def read(self) -> RelayState | None:
        """None until the relay has read its position back from the stream (at start)."""
        if not self._relay.resumed:
            return None
        head = await asyncio.to_thread(self._head)
        return self.observe(head, self._relay.position, time.monotonic())

    def observe(self, head: int, position: int, now: float) -> RelayState:
        if not self._seen or head > self._seen[-1][1]:
            self._seen.append((now, head))
        while self._seen and self._seen[0][1] <= position:
            self._seen.popleft()
        pending = max(0, head - position)
        behind = now - self._seen[0][0] if pending and self._seen else 0.0
        return RelayState(self._relay.stream, pending, behind)


class JetStreamWatch:
    """What one service instance reads from JetStream for its `/metrics`."""

    def __init__(
        self,
        js: JetStreamContext,
        topology: Topology,
        service: str,
        *,
        durables: Sequence[Durable] | None = None,
        relay: RelayLag | None = None,
    ) -> None:
        self._js = js
        self._topology = topology
        self.service = service
        self._durables = tuple(durables_of(service) if durables is None else durables)
        self._relay = relay
        self.consumers: tuple[ConsumerState, ...] = ()
        self.dead_letters: dict[str, int] = {}  # slug → messages waiting
        self.dead_letter_stream: tuple[str, int] | None = None
        self.relay: RelayState | None = None

    async def read(self) -> None:
        consumers, dead, relay = await asyncio.gather(
            self._read_consumers(),
            self._read_dead_letters(),
            self._read_relay(),
            return_exceptions=True,
        )
        self.consumers = () if isinstance(consumers, BaseException) else consumers
        if isinstance(dead, BaseException):
            self.dead_letters, self.dead_letter_stream = {}, None
        else:
            self.dead_letters, self.dead_letter_stream = dead
        self.relay = None if isinstance(relay, BaseException) else relay
        for outcome in (consumers, dead, relay):
            if isinstance(outcome, BaseException):
                raise outcome

    def failed(self, error: BaseException) -> None:
        """A read cut short (it timed out): nothing stale is exported. (A read that failed
        in part has already left out the parts that failed.)"""
        if isinstance(error, TimeoutError):
            self.consumers, self.dead_letters = (), {}
            self.dead_letter_stream = self.relay = None

    async def _read_consumers(self) -> tuple[ConsumerState, ...]:
        found = await asyncio.gather(*(self._consumer(d) for d in self._durables))
        return tuple(state for state in found if state is not None)

    async def _consumer(self, durable: Durable) -> ConsumerState | None:
        stream = self._topology.stream(durable.stream)
        try:
            info = await self._js.consumer_info(stream, durable.name)
        except NotFoundError:
            return None  # not made yet (its loop has not subscribed)
        return ConsumerState(
            stream=stream,
            consumer=durable.name,
            pending=info.num_pending or 0,
            ack_pending=info.num_ack_pending or 0,
            redelivered=info.num_redelivered or 0,
        )

    async def _read_dead_letters(self) -> tuple[dict[str, int], tuple[str, int]]:
        stream = self._topology.stream(DEAD_LETTERS)
        prefix = self._topology.dead_letter_subject(self.service, "")
        info = await self._js.stream_info(stream, subjects_filter=prefix + ">")
        by_slug: dict[str, int] = {}
        for subject, count in sorted((info.state.subjects or {}).items()):
            if len(by_slug) >= MAX_DEAD_LETTER_SUBJECTS:
                break
            if subject.startswith(prefix):
                by_slug[subject[len(prefix) :]] = count
        return by_slug, (stream, info.state.messages)

    async def _read_relay(self) -> RelayState | None:
        return await self._relay.read() if self._relay is not None else None


class JetStreamCollector(Collector):
    """The gauges of every `JetStreamWatch` of the process."""

    def __init__(self) -> None:
        self._watches: dict[int, JetStreamWatch] = {}

    def add(self, watch: JetStreamWatch) -> None:
        self._watches[id(watch)] = watch

    def remove(self, watch: JetStreamWatch) -> None:
        self._watches.pop(id(watch), None)

    def describe(self) -> Iterable[Metric]:
        return []  # values exist only once read: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        yield from families(list(self._watches.values()))


def families(watches: Sequence[JetStreamWatch]) -> Iterator[Metric]:
    consumer_labels = ["stream", "consumer"]
    pending = GaugeMetricFamily(
        "threadline_consumer_pending_messages",
        "Messages of the stream the durable consumer has not yet been delivered (num_pending).",
        labels=consumer_labels,
    )
    ack_pending = GaugeMetricFamily(
        "threadline_consumer_ack_pending_messages",
        "Messages delivered to the consumer and not yet acknowledged (num_ack_pending).",
        labels=consumer_labels,
    )
    redelivered = GaugeMetricFamily(
        "threadline_consumer_redelivered_messages",
        "Messages delivered more than once and not yet acknowledged (num_redelivered).",
        labels=consumer_labels,
    )
    dead = GaugeMetricFamily(
        "threadline_dead_letter_messages",
        "Dead letters of this service waiting in DEAD_LETTERS, by reason slug "
        "(subjects dlq.<service>.<slug>).",
        labels=["service", "slug"],
    )
    dead_stream = GaugeMetricFamily(
        "threadline_dead_letter_stream_messages",
        "Messages in the DEAD_LETTERS stream, all services together.",
        labels=["stream"],
    )
    relay_pending = GaugeMetricFamily(
        "threadline_relay_pending_events",
        "Events stored by the session but not yet published by the outbox relay.",
        labels=["stream"],
    )
    relay_behind = GaugeMetricFamily(
        "threadline_relay_seconds_behind",
        "How long the oldest event not yet published has waited (0 when the relay is caught "
        "up; dated to a scrape's interval).",
        labels=["stream"],
    )
    seen: set[tuple[str, ...]] = set()

    def once(*key: str) -> bool:
        if key in seen:
            return False
        seen.add(key)
        return True

    for watch in watches:
        for c in watch.consumers:
            if once("consumer", c.stream, c.consumer):
                pending.add_metric([c.stream, c.consumer], c.pending)
                ack_pending.add_metric([c.stream, c.consumer], c.ack_pending)
                redelivered.add_metric([c.stream, c.consumer], c.redelivered)
        for slug, count in watch.dead_letters.items():
            if once("dead", watch.service, slug):
                dead.add_metric([watch.service, slug], count)
        if watch.dead_letter_stream and once("dead_stream", watch.dead_letter_stream[0]):
            dead_stream.add_metric([watch.dead_letter_stream[0]], watch.dead_letter_stream[1])
        if watch.relay and once("relay", watch.relay.stream):
            relay_pending.add_metric([watch.relay.stream], watch.relay.pending)
            relay_behind.add_metric([watch.relay.stream], watch.relay.seconds_behind)
    yield from (pending, ack_pending, redelivered, dead, dead_stream, relay_pending, relay_behind)


JETSTREAM = JetStreamCollector()
REGISTRY.register(JETSTREAM)


def watch_jetstream(
    stack: AsyncExitStack,
    js: JetStreamContext,
    topology: Topology,
    service: str,
    *,
    relay: RelayLag | None = None,
    registry: CollectorRegistry | None = None,
    min_interval: float = 1.0,
    durables: Sequence[Durable] | None = None,
) -> Refresher:
    """Export `service`'s consumers, dead letters (and relay) until `stack` unwinds; the
    refresher to give the ops server. `registry`: a service's own registry, when it does not
    serve the default one. `min_interval`: scrapes closer together than this share a read."""
    watch = JetStreamWatch(js, topology, service, relay=relay, durables=durables)
    JETSTREAM.add(watch)
    stack.callback(JETSTREAM.remove, watch)
    if registry is not None and registry is not REGISTRY:
        collector = JetStreamCollector()
        collector.add(watch)
        registry.register(collector)
        stack.callback(registry.unregister, collector)
    return Refresher(
        f"jetstream:{service}", watch.read, on_failure=watch.failed, min_interval=min_interval
    )
