"""Aggregates loaded and changed while applying a batch of facts, saved in one transaction."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.domain import Aggregate

A = TypeVar("A", bound=Aggregate)
Loader = Callable[[Iterable[UUID]], dict[UUID, Any] | None]


class UnitOfWork:
    """An identity map over the repository: each aggregate is loaded at most once per unit,
    and an id the store does not have is asked for once.

    `in_place=True` takes aggregates from the cache without copying them: only for the one
    writer thread, which must `forget()` what it touched when a save fails.
    """

    def __init__(self, repository: Repository[UUID], *, in_place: bool = False) -> None:
        self._repository = repository
        self._in_place = in_place
        self._aggregates: dict[UUID, Aggregate] = {}
        self._absent: set[UUID] = set()
        # The version of each aggregate as it was read (before this unit changed it).
        self._read_versions: dict[UUID, int] = {}

    def get(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        found = self._aggregates.get(aggregate_id)
        if found is None:
            if aggregate_id in self._absent:
                return None
            try:
                found = self._repository.get(aggregate_id, deepcopy_from_cache=not self._in_place)
            except AggregateNotFoundError:
                self._absent.add(aggregate_id)
                return None
            self._aggregates[aggregate_id] = found
            self._read_versions[aggregate_id] = found.version
        if not isinstance(found, kind):
            raise TypeError(f"{aggregate_id} is a {type(found).__name__}, not a {kind.__name__}")
        return found

    def prefetch(self, ids: Iterable[UUID], load_many: Loader) -> None:
        """Load, with one query, the ids neither this unit nor the cache holds."""
        cache = self._repository.cache
        missing = [i for i in set(ids) if i not in self._aggregates and not _cached(cache, i)]
        found = load_many(missing)
        if found is None:
            return
        self._aggregates.update(found)
        for aggregate_id, aggregate in found.items():
            self._read_versions[aggregate_id] = aggregate.version
            if cache is not None:
                cache.put(aggregate_id, aggregate)
        self._absent.update(set(missing) - set(found))

    def add(self, aggregate: Aggregate) -> None:
        self._aggregates[aggregate.id] = aggregate
        self._absent.discard(aggregate.id)

    def forget(self) -> None:
        """Evict what this unit loaded from the repository's cache (after a failed save, the
        cached versions may be stale or hold events that were never stored)."""
        cache = self._repository.cache
        if cache is None:
            return
        for aggregate_id in self._aggregates:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    def read_unchanged(self) -> dict[UUID, int]:
        """What this unit read and has not changed (no events pending), at the version read."""
        aggregates = self._aggregates
        return {
            aggregate_id: version
            for aggregate_id, version in self._read_versions.items()
            if not aggregates[aggregate_id].pending_events
        }

    def changed(self) -> list[Aggregate]:
        """Aggregates with events not yet saved (what `Application.save` collects)."""
        return [a for a in self._aggregates.values() if a.pending_events]


def _cached(cache: Any, aggregate_id: UUID) -> bool:
    if cache is None:
        return False
    try:
        cache.get(aggregate_id)
    except KeyError:
        return False
    return True
