"""What the application needs from the adapters around it, as protocols they implement."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import StoredEvent

T = TypeVar("T")


@runtime_checkable
class StoredHistories(Protocol):
    """An event store that reads the whole stored history of many aggregates with one query
    (the PostgreSQL recorder does; the in-memory one of unit tests does not)."""

    def select_histories(self, ids: Sequence[UUID]) -> list[StoredEvent]:
        """The stored events of the aggregates among `ids`, by aggregate and version."""
        ...

    def changed_since(self, read: Mapping[UUID, int]) -> list[UUID]:
        """The aggregates among `read` (id → the version read) that the store holds a later
        event of."""
        ...


class Writer(Protocol):
    """Runs the application's commands one at a time, on the one thread that writes."""

    async def run(self, work: Callable[..., T], *args: object) -> T: ...
