"""The session's duties, each done by one instance at a time under a lease (issue 15, item 2).

- `partition-<k>`, for each of the topology's partitions: recording the facts of that
  partition, one durable consumer per upstream stream (`session-ingest-p<k>`, …; with one
  partition the durables keep their names and read everything), and relaying the partition's
  stored events to SESSION_EVENTS (its aggregates': the slot their ids carry) — so no two
  relays ever publish one store position, and each partition's relay runs beside the
  consumers that record its facts.
- `auto-resolver`: resolving conversations left idle (it reads the whole log; two would do
  the same work twice).

Which instance holds which lease is decided by `threadline.messaging.leases.LeaseKeeper`; here
is only how each duty starts (on the exit stack it is given, which stops it).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial

from nats.js import JetStreamContext

from threadline.messaging.bus import EventBus
from threadline.messaging.consumer import ConsumerLoop, ConsumerSettings
from threadline.messaging.leases import StartDuty
from threadline.messaging.relay import OutboxRelay
from threadline.messaging.topology import Topology, durables_of
from threadline.servicekit.background import Background, run_in_background
from threadline.servicekit.ops_http import ReadinessCheck
from threadline.session.adapters.inbound.consumers import FactRecorder
from threadline.session.adapters.outbound.writer import EventStoreWriter
from threadline.session.application.auto_resolution import AutoResolver

SERVICE = "session"
AUTO_RESOLVER = "auto-resolver"


def partition_duty(partition: int) -> str:
    return f"partition-{partition}"


@dataclass
class SessionDuties:
    """How each duty starts, and which of them run here now."""

    js: JetStreamContext
    bus: EventBus
    topology: Topology
    writer: EventStoreWriter
    make_relay: Callable[[int], OutboxRelay]  # the relay of one partition
    auto_resolve_interval: float
    batch_size: int
    relays: dict[int, OutboxRelay] = field(default_factory=dict, init=False)  # held here
    resolver: AutoResolver | None = field(default=None, init=False)  # while held here
    _loops: dict[str, list[Background]] = field(default_factory=dict, init=False)

    def table(self) -> dict[str, StartDuty]:
        """Every duty by name, with how to start it."""
        duties: dict[str, StartDuty] = {AUTO_RESOLVER: self._start_resolver}
        for k in range(self.topology.partitions):
            duties[partition_duty(k)] = partial(self._start_partition, k)
        return duties

    @property
    def loops(self) -> tuple[Background, ...]:
        """The loops running here: the auto-resolver's first, then each partition's relay
        and consumers."""
        order = sorted(self._loops, key=lambda name: (name != AUTO_RESOLVER, len(name), name))
        return tuple(loop for name in order for loop in self._loops[name])

    def wake_relay(self, slots: set[int] | None = None) -> None:
        """Something was stored (of aggregates in `slots`; None: any): the relays of their
        partitions, where they run here, look now (the others at their next poll)."""
        partitions = self.topology.partitions
        for partition, relay in list(self.relays.items()):
            if slots is None or partitions == 1 or any(s % partitions == partition for s in slots):
                relay.wake()

    def relay_check(self) -> ReadinessCheck:
        """Ready unless a relay or the auto-resolver runs here and stopped."""
        return self._check(lambda loop: loop.name.startswith("relay") or loop.name == AUTO_RESOLVER)

    def partitions_check(self) -> ReadinessCheck:
        """Ready unless a consumer of a partition held here stopped."""
        return self._check(
            lambda loop: not loop.name.startswith("relay") and loop.name != AUTO_RESOLVER
        )

    def _check(self, which: Callable[[Background], bool]) -> ReadinessCheck:
        async def check() -> str | None:
            problems = []
            for loops in list(self._loops.values()):
                for loop in loops:
                    if which(loop) and (problem := await loop.check()()) is not None:
                        problems.append(problem)
            return "; ".join(problems) or None

        return check

    async def _start_resolver(self, stack: AsyncExitStack) -> None:
        stack.callback(self._forget, AUTO_RESOLVER)
        resolver = AutoResolver(self.writer.app, self.writer, interval=self.auto_resolve_interval)
        self.resolver = resolver
        self._loops[AUTO_RESOLVER] = [
            run_in_background(stack, AUTO_RESOLVER, resolver.run, stop=resolver.stop)
        ]

    async def _start_partition(self, partition: int, stack: AsyncExitStack) -> None:
        # Another instance may have written this partition's conversations while it held it:
        # what this process cached of them is not the truth any more.
        await self.writer.run(self.writer.app.forget_cached)
        name = partition_duty(partition)
        stack.callback(self._forget, name)
        relay = self.make_relay(partition)
        self.relays[partition] = relay
        stack.callback(self.relays.pop, partition, None)
        relay_name = "relay" if self.topology.partitions == 1 else f"relay-p{partition}"
        loops = [run_in_background(stack, relay_name, relay.run, stop=relay.stop)]
        recorder = FactRecorder(self.writer)
        for durable in durables_of(SERVICE):
            consumer = durable.in_partition(partition, self.topology.partitions)
            loop = ConsumerLoop(
                js=self.js,
                dead_letters=self.bus,
                topology=self.topology,
                service=SERVICE,
                handler=recorder,
                settings=ConsumerSettings.of(self.topology, consumer, batch_size=self.batch_size),
            )
            loops.append(run_in_background(stack, consumer.name, loop.run, stop=loop.stop))
        self._loops[name] = loops

    def _forget(self, name: str) -> None:
        self._loops.pop(name, None)
        if name == AUTO_RESOLVER:
            self.resolver = None


class CurrentRelay:
    """The relays as `/metrics` sees them: those of the partitions this instance holds, as
    far as the one furthest behind (each reads the log past other partitions' events, so
    each is at the store's head when it has nothing left to publish)."""

    def __init__(self, duties: SessionDuties, stream: str) -> None:
        self._duties = duties
        self.stream = stream

    @property
    def resumed(self) -> bool:
        relays = list(self._duties.relays.values())
        return bool(relays) and all(relay.resumed for relay in relays)

    @property
    def position(self) -> int:
        return min((relay.position for relay in self._duties.relays.values()), default=0)
