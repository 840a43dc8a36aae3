"""What the application needs from the adapters around it, as protocols they implement."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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

    def latest_versions(self, ids: Sequence[UUID]) -> dict[UUID, int]:
        """The last stored version of each aggregate among `ids` that the store has."""
        ...


class Writer(Protocol):
    """Runs the application's commands one at a time, on the one thread that writes."""

    async def run(self, work: Callable[..., T], *args: object) -> T: ...
