"""Aggregates loaded and changed while applying a batch of facts, saved in one transaction."""

from __future__ import annotations

import contextlib
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.domain import Aggregate

A = TypeVar("A", bound=Aggregate)


class UnitOfWork:
    """An identity map over the repository: each aggregate is loaded at most once per batch."""

    def __init__(self, repository: Repository[UUID]) -> None:
        self._repository = repository
        self._aggregates: dict[UUID, Aggregate] = {}

    def get(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        found = self._aggregates.get(aggregate_id)
        if found is None:
            try:
                found = self._repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
            self._aggregates[aggregate_id] = found
        if not isinstance(found, kind):
            raise TypeError(f"{aggregate_id} is a {type(found).__name__}, not a {kind.__name__}")
        return found

    def add(self, aggregate: Aggregate) -> None:
        self._aggregates[aggregate.id] = aggregate

    def forget(self) -> None:
        """Evict what this unit loaded from the repository's cache (after a failed save, the
        cached versions may be stale: another writer got there first)."""
        cache = self._repository.cache
        if cache is None:
            return
        for aggregate_id in self._aggregates:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    def changed(self) -> list[Aggregate]:
        """Aggregates with events not yet saved (what `Application.save` collects)."""
        return [a for a in self._aggregates.values() if a.pending_events]
