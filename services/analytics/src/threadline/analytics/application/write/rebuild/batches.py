"""Projecting a run of events into a schema in bulk, with the live projection's outcome.

The run is folded with the live projection's pure `project`, applied to the rows in memory and
written with COPY, inside a savepoint. When that fails (an event the live projection would
dead-letter: malformed, a value beyond a limit of PostgreSQL's; or a message id seen twice,
which the live projection keeps once, as this does by skipping the second), the run is
split in halves and each half tried again, down to the single events that fail alone, which
are skipped, exactly as the live projection projects a failed batch one event at a time and
dead-letters only what fails alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from threadline.analytics.application.write.rebuild.apply import apply
from threadline.analytics.application.write.rebuild.ports import RebuildStore
from threadline.analytics.application.write.rebuild.working_set import WorkingSet
from threadline.analytics.domain.write.projection import project
from threadline.analytics.domain.write.rates import Rates
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.failures import Failure, classify

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An event that cannot be projected (the live projection dead-letters it)."""

    position: int
    event_type: str
    reason: str


def project_into(
    store: RebuildStore, events: Sequence[SessionEvent], *, rates: Rates
) -> list[Skipped]:
    """Project `events` (in position order) into `store`'s schema, inside the caller's
    transaction; the events skipped."""
    if not events:
        return []
    try:
        with store.transaction():
            changes = project(events, rates=rates)
            rows = WorkingSet()
            store.load(changes, rows)
            apply(changes, rows)
            store.flush(rows)
        return []
    except Exception as error:
        if classify(error) is Failure.UNAVAILABLE:
            raise  # the database went away: nothing to learn about the events
        # Anything else, a limit exceeded included (an index row too large), is the events'.
        if len(events) == 1:
            event = events[0]
            log.warning("skipping the event at position %d: %s", event.position, error)
            reason = f"{type(error).__name__}: {error}"
            return [Skipped(event.position, event.event_type, reason)]
        half = len(events) // 2
        return [
            *project_into(store, events[:half], rates=rates),
            *project_into(store, events[half:], rates=rates),
        ]
