"""How far the live projection has got in the session's event log, partition by partition.

The session relays its events once per partition (issue 15, item 2): each partition's events
reach SESSION_EVENTS in the order of their positions, but the partitions interleave freely, so
one position for the whole log would pass over an event of a partition that is behind. The
projection therefore keeps the last position it projected in each partition; an event is
seen when its position is at or before its partition's. With one partition this is the one
position of before. An event's partition is its aggregate's: the slot its id carries (the
last 12 bits, `threadline.rules.partitions`) modulo the number of partitions, as the session's
relay chooses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.rules.partitions import conversation_slot, partition_of


@dataclass(frozen=True, slots=True)
class Positions:
    """The last position projected in each partition (index: the partition)."""

    values: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("positions of at least one partition")

    @property
    def partitions(self) -> int:
        return len(self.values)

    @property
    def complete(self) -> int:
        """A position up to which every event of every partition is projected."""
        return min(self.values)

    def partition(self, event: SessionEvent) -> int:
        if len(self.values) == 1:
            return 0
        return partition_of(conversation_slot(event.aggregate_id), len(self.values))

    def of(self, event: SessionEvent) -> int:
        """The position projected in `event`'s partition."""
        return self.values[self.partition(event)]

    def seen(self, event: SessionEvent) -> bool:
        return event.position <= self.of(event)

    def past(self, events: Iterable[SessionEvent]) -> Positions:
        """These positions moved over `events` (never back)."""
        values = list(self.values)
        for event in events:
            k = self.partition(event)
            values[k] = max(values[k], event.position)
        return Positions(tuple(values))
