"""Benchmark 9: the outbox relay alone — the session's event log published to SESSION_EVENTS.

With one partition one relay runs per event store, so its rate is a ceiling on the events the
whole platform can store and pass on: about six per customer message answered
(docs/benchmarks.md §8); with several, one relay per partition. A session event log is
recorded by the session's own application (`tests.bench.event_log`, the rebuild benchmark's
shape) into an embedded PostgreSQL, or reused from `--rebuild-log-url`; then, on an embedded
NATS, a relay
(`OutboxRelay` over the session's `StoredEvents`, as `session.bootstrap` wires it) publishes
its first N events into a fresh stream, timed, with the CPU of this process (the relay and its
reading thread) and of the NATS server, two ways in the same run, alternating:

  pipelined   the relay as it is with one partition: each round's events handed to the
              connection with nats-py's `publish_async` and their acknowledgements awaited
              together (`JetStreamBus.publish_each`);
  one by one  the way before: a `publish` each (a request with its own reply, task and timer),
              all of a round's awaited together with `asyncio.gather`;
  4 partitions  the relays of four partitions side by side in this process (as four session
              instances would run them, each its own), each reading its partition's events
              and publishing them one at a time, each after the one before it was acknowledged
              (no stream-wide fence can order a partition's pipelined round).

And one message at a time, as ingest publishes a status webhook's one fact: the CPU of a
`publish`, of a `publish` as a task of its own (`asyncio.gather`, ingest's way before) and of
`publish_each` of one, alternating, each over `--relay-single` publishes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import nats

from tests.bench.cpu import cpu_seconds
from tests.bench.event_log import LogShape, session_app
from tests.bench.rebuild import Databases, recorded_log
from threadline.cli.embedded import EmbeddedNats, EmbeddedPostgres
from threadline.messaging.bus import JetStreamBus, Outcome, Outgoing
from threadline.messaging.relay import NotificationSource, OutboxRead, OutboxRecord, OutboxRelay
from threadline.messaging.topology import INGEST_EVENTS, SESSION_EVENTS, Topology, ensure_streams
from threadline.session.adapters.outbound.outbox import StoredEvents
from threadline.session.application.conversations import Conversations

WAYS = ("pipelined", "one by one", "4 partitions")
PARTITIONS = 4


class OneByOneBus(JetStreamBus):
    """The relay's publishing before `publish_each`: the first event alone, then a `publish`
    for each of the rest, their acknowledgements awaited together."""

    async def publish_each(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        if not messages:
            return []
        first = await self._one(messages[0])
        rest = await asyncio.gather(*(self._one(m) for m in messages[1:]))
        return [first, *rest]

    async def _one(self, message: Outgoing) -> Outcome:
        try:
            return await self.publish(
                message.subject, message.payload, msg_id=message.msg_id, headers=message.headers
            )
        except Exception as error:
            return error


@dataclass(frozen=True, slots=True)
class RelayRate:
    way: str
    events: int
    seconds: float
    relay_cpu: float  # this process: the relay's loop and its reading thread
    nats_cpu: float

    @property
    def per_s(self) -> float:
        return self.events / self.seconds


@dataclass(frozen=True, slots=True)
class SingleCost:
    way: str
    publishes: int
    cpu_us: float  # this process's CPU a publish
    wall_us: float


@dataclass(frozen=True, slots=True)
class RelayFigures:
    stored: int  # events in the log
    log_seconds: float | None  # recording it, when it was recorded by this run
    rates: list[RelayRate]
    singles: list[SingleCost]


SINGLE_WAYS = ("publish", "publish as a task", "publish_each of one")


def run_relay_benchmark(
    workdir: Path,
    *,
    events: int,
    customers: int,
    repeats: int,
    singles: int,
    log_url: str | None = None,
) -> RelayFigures:
    with ExitStack() as stack:
        postgres = stack.enter_context(EmbeddedPostgres(workdir / "postgres"))
        url, log_seconds = recorded_log(
            Databases(postgres), LogShape(events=events, customers=customers), log_url
        )
        server = stack.enter_context(EmbeddedNats(workdir / "nats"))
        assert server.pid is not None
        rates = asyncio.run(_relay_runs(url, server.url, server.pid, events, repeats))
        single_costs = asyncio.run(_single_costs(server.url, singles, repeats))
        app = session_app(url)
        try:
            stored = app.recorder.max_notification_id() or 0
        finally:
            app.close()
    return RelayFigures(
        stored=stored, log_seconds=log_seconds or None, rates=rates, singles=single_costs
    )


async def _single_costs(nats_url: str, publishes: int, repeats: int) -> list[SingleCost]:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        topology = Topology("relay-bench-single")
        await ensure_streams(js, topology)
        bus = JetStreamBus(js)
        subject = f"{topology.root(INGEST_EVENTS)}.0.109000000000001.MessageStatusReported"
        payload = b"s" * 300  # about a status fact's size
        costs = []
        for run in range(repeats):
            for way in SINGLE_WAYS:
                cpu, started = time.process_time(), time.perf_counter()
                for n in range(publishes):
                    msg_id = f"{run}-{way}-{n}"
                    if way == "publish":
                        await bus.publish(subject, payload, msg_id=msg_id)
                    elif way == "publish as a task":
                        await asyncio.gather(bus.publish(subject, payload, msg_id=msg_id))
                    else:
                        await bus.publish_each([Outgoing(subject, payload, msg_id, {})])
                costs.append(
                    SingleCost(
                        way,
                        publishes,
                        cpu_us=1e6 * (time.process_time() - cpu) / publishes,
                        wall_us=1e6 * (time.perf_counter() - started) / publishes,
                    )
                )
        await js.delete_stream(topology.stream(INGEST_EVENTS))
        return costs
    finally:
        await client.close()


async def _relay_runs(
    log_url: str, nats_url: str, nats_pid: int, events: int, repeats: int
) -> list[RelayRate]:
    app = session_app(log_url)
    rates = []
    try:
        for run in range(repeats):
            for way in WAYS:
                topology = Topology(f"relay-bench-{run}-{way.replace(' ', '-')}")
                rates.append(await _relay_once(app, topology, nats_url, nats_pid, way, events))
    finally:
        app.close()
    return rates


async def _relay_once(
    app: Conversations, topology: Topology, nats_url: str, nats_pid: int, way: str, events: int
) -> RelayRate:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        await ensure_streams(js, topology)
        stream = topology.stream(SESSION_EVENTS)
        if way == "4 partitions":
            topology = replace(topology, partitions=PARTITIONS)
            relays = [
                OutboxRelay(
                    StoredEvents(app, topology, k),
                    JetStreamBus(js),
                    js,
                    stream,
                    topology=topology,
                    service="session",
                    subjects=topology.relayed_in(k),
                    dead_letter_slug=f"unpublishable-p{k}",
                )
                for k in range(PARTITIONS)
            ]
        else:
            bus = JetStreamBus(js) if way == "pipelined" else OneByOneBus(js)
            relays = [
                OutboxRelay(
                    StoredEvents(app, topology),
                    bus,
                    js,
                    stream,
                    topology=topology,
                    service="session",
                )
            ]
        for relay in relays:
            await relay._resume()
        started, cpu, nats_cpu = time.perf_counter(), time.process_time(), cpu_seconds(nats_pid)
        await asyncio.gather(*(_publish_up_to(relay, events) for relay in relays))
        seconds = time.perf_counter() - started
        stored = (await js.stream_info(stream)).state.messages
        rate = RelayRate(
            way,
            stored,
            seconds,
            relay_cpu=time.process_time() - cpu,
            nats_cpu=cpu_seconds(nats_pid) - nats_cpu,
        )
        expected = min(events, app.recorder.max_notification_id() or 0)
        if stored != expected:
            raise SystemExit(f"{way}: {stored} messages in the stream for {expected} events")
        await js.delete_stream(stream)
        return rate
    finally:
        await client.close()


async def _publish_up_to(relay: OutboxRelay, events: int) -> None:
    """Rounds of the relay until it has passed position `events` (or the log's end)."""
    relay.source = _UpTo(relay.source, events)
    while relay.position < events:
        at = relay.position
        if not await relay.publish_pending() and relay.position == at:
            break  # the log holds fewer events


@dataclass(frozen=True, slots=True)
class _UpTo:
    """A source that ends at position `last`."""

    source: NotificationSource
    last: int

    def read_after(self, position: int, limit: int) -> Sequence[OutboxRecord] | OutboxRead:
        read = self.source.read_after(position, limit)
        if isinstance(read, OutboxRead):
            mine = [r for r in read.records if r.position <= self.last]
            return OutboxRead(mine, min(read.reached, self.last))
        return [r for r in read if r.position <= self.last]


def print_relay(f: RelayFigures) -> None:
    print("\nBenchmark 9 — the outbox relay alone: the event log published to SESSION_EVENTS")
    recorded = f"recorded in {f.log_seconds:.0f} s" if f.log_seconds else "reused"
    print(f"  log: {f.stored:,} stored session events ({recorded}); rounds of 500")
    print(f"  {'way':<13} {'events':>9} {'seconds':>8} {'events/s':>9}   CPU µs/event: relay  NATS")
    for r in f.rates:
        print(
            f"  {r.way:<13} {r.events:>9,} {r.seconds:>8.2f} {r.per_s:>9,.0f}"
            f"   {1e6 * r.relay_cpu / r.events:>17.0f} {1e6 * r.nats_cpu / r.events:>5.0f}"
        )
    print("  one message at a time (a status webhook's fact):")
    for c in f.singles:
        print(
            f"  {c.way:<22} {c.publishes:>6,} publishes"
            f"   {c.cpu_us:>6.1f} µs CPU, {c.wall_us:>6.1f} µs wall each"
        )
