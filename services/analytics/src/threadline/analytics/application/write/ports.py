"""What the live projection needs from outside, as protocols the adapters implement.

It writes through a `ProjectionStore` (the read models in PostgreSQL), reads a gap back through
a `StreamHistory` (the SESSION_EVENTS stream) and tells a `ProjectionReport` (the metrics) what
it did. Events reach it as `Delivered`. The rebuild's ports are in `rebuild/ports.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from threadline.analytics.domain.write.changes import Changes
from threadline.analytics.domain.write.positions import Positions
from threadline.contracts.events.v1.session_pb2 import SessionEvent

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Delivered:
    """A session event as the SESSION_EVENTS stream holds it."""

    sequence: int  # its stream sequence: consecutive, so a jump is a gap
    position: int  # its event-log position, as the stream's header gives it (0: none)
    event: SessionEvent | None  # None: not a usable `SessionEvent`; `problem` says why
    problem: str = ""


class ReadModelsClosed(Exception):
    """The read models' connections are closed: the service is stopping. Nothing is retried
    or dead-lettered then."""


class DuplicateMessage(Exception):
    """A message (or its response fact) added under an id already projected."""


class ProjectionWrite(Protocol):
    """One transaction of the live projection, holding the projections lock."""

    async def positions(self) -> Positions:
        """The projection's last committed positions, locked until the transaction ends."""
        ...

    async def write(self, changes: Changes) -> None:
        """Apply `changes` to the read models."""
        ...

    async def save_positions(self, positions: Positions) -> None: ...


class ProjectionStore(Protocol):
    """The read models as the live projection writes them."""

    async def positions(self, projection: str) -> Positions:
        """The last positions `projection` committed, without locking (0 before the first)."""
        ...

    async def run(self, projection: str, work: Callable[[ProjectionWrite], Awaitable[T]]) -> T:
        """`work` in one transaction holding the projections lock, run again while the
        database is unavailable (as long as it takes) or a transient failure persists (a few
        times, then raised). Raises `ReadModelsClosed` when stopping, `DuplicateMessage` for
        a message id already projected, any other error as it came."""
        ...


class StreamHistory(Protocol):
    """The events the stream keeps, read back by sequence (to fill a gap)."""

    async def at(self, sequence: int) -> Delivered | None:
        """The event at `sequence`; None when the stream keeps no message there."""
        ...


class ProjectionReport(Protocol):
    """Where the live projection tells what it did (the service's metrics)."""

    def duplicate(self) -> None:
        """A message whose id was already projected was passed over (the first is kept)."""
        ...

    def gap_filled(self, events: int) -> None:
        """`events` were read back from the stream to fill a gap."""
        ...

    def reached(self, projection: str, position: int) -> None:
        """`projection` committed up to `position`."""
        ...
