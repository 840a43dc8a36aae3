"""The session's duties, each done by one instance at a time under a lease (issue 15, item 2).

- `partition-<k>`, for each of the topology's partitions: recording the facts of that
  partition, one durable consumer per upstream stream (`session-ingest-p<k>`, …; with one
  partition the durables keep their names and read everything).
- `relay`: publishing the event store's notification log to SESSION_EVENTS, and beside it the
  auto-resolver (both read the one log; two of either would do the same work twice).

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
RELAY = "relay"


def partition_duty(partition: int) -> str:
    return f"partition-{partition}"


@dataclass
class SessionDuties:
    """How each duty starts, and which of them run here now."""

    js: JetStreamContext
    bus: EventBus
    topology: Topology
    writer: EventStoreWriter
    make_relay: Callable[[], OutboxRelay]
    auto_resolve_interval: float
    batch_size: int
    relay: OutboxRelay | None = field(default=None, init=False)  # while held here
    resolver: AutoResolver | None = field(default=None, init=False)  # beside the relay
    _loops: dict[str, list[Background]] = field(default_factory=dict, init=False)

    def table(self) -> dict[str, StartDuty]:
        """Every duty by name, with how to start it."""
        duties: dict[str, StartDuty] = {RELAY: self._start_relay}
        for k in range(self.topology.partitions):
            duties[partition_duty(k)] = partial(self._start_partition, k)
        return duties

    @property
    def loops(self) -> tuple[Background, ...]:
        """The loops running here: the relay's first, then each partition's consumers."""
        order = sorted(self._loops, key=lambda name: (name != RELAY, len(name), name))
        return tuple(loop for name in order for loop in self._loops[name])

    def wake_relay(self) -> None:
        """Something was stored: the relay, when it runs here, looks now."""
        if self.relay is not None:
            self.relay.wake()

    def relay_check(self) -> ReadinessCheck:
        """Ready unless the relay or the auto-resolver runs here and stopped."""
        return self._check(lambda name: name == RELAY)

    def partitions_check(self) -> ReadinessCheck:
        """Ready unless a consumer of a partition held here stopped."""
        return self._check(lambda name: name != RELAY)

    def _check(self, which: Callable[[str], bool]) -> ReadinessCheck:
        async def check() -> str | None:
            problems = []
            for name, loops in list(self._loops.items()):
                if not which(name):
                    continue
                for loop in loops:
                    if (problem := await loop.check()()) is not None:
                        problems.append(problem)
            return "; ".join(problems) or None

        return check

    async def _start_relay(self, stack: AsyncExitStack) -> None:
        relay = self.make_relay()
        stack.callback(self._forget, RELAY)
        self.relay = relay
        resolver = AutoResolver(self.writer.app, self.writer, interval=self.auto_resolve_interval)
        self.resolver = resolver
        self._loops[RELAY] = [
            run_in_background(stack, "relay", relay.run, stop=relay.stop),
            run_in_background(stack, "auto-resolver", resolver.run, stop=resolver.stop),
        ]

    async def _start_partition(self, partition: int, stack: AsyncExitStack) -> None:
        # Another instance may have written this partition's conversations while it held it:
        # what this process cached of them is not the truth any more.
        await self.writer.run(self.writer.app.forget_cached)
        name = partition_duty(partition)
        stack.callback(self._forget, name)
        recorder = FactRecorder(self.writer)
        loops = []
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
        if name == RELAY:
            self.relay = self.resolver = None


class CurrentRelay:
    """The relay as `/metrics` sees it: this instance's, while it holds the lease."""

    def __init__(self, duties: SessionDuties, stream: str) -> None:
        self._duties = duties
        self.stream = stream

    @property
    def resumed(self) -> bool:
        return self._duties.relay is not None and self._duties.relay.resumed

    @property
    def position(self) -> int:
        return self._duties.relay.position if self._duties.relay is not None else 0
