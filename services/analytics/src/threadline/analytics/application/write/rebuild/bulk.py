"""Projecting long runs of events with their rows held in memory, written once per flush.

A replay projects batch after batch into one `WorkingSet` that it keeps between batches: a row
a later batch changes again is still in memory (no reading it back, no writing it twice), and
rows are written with COPY only when the set holds `flush_rows` rows or the run ends, in one
transaction with the position reached. Most rows are then written exactly once: a
conversation is touched by every exchange, and its message by every status report.

This path is optimistic. An event the live projection would dead-letter makes `add` or `flush`
fail somewhere in a large run; the caller then discards what is held and projects that run
again with `batches.project_into`, which isolates the events that fail alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from threadline.analytics.application.write.rebuild.apply import apply
from threadline.analytics.application.write.rebuild.ports import RebuildStore
from threadline.analytics.application.write.rebuild.working_set import WorkingSet
from threadline.analytics.domain.write.projection import PROJECTION, project
from threadline.analytics.domain.write.rates import Rates
from threadline.contracts.events.v1.session_pb2 import SessionEvent


class BulkProjection:
    def __init__(self, store: RebuildStore, *, rates: Rates) -> None:
        self.store, self.rates = store, rates
        self.rows = WorkingSet()
        self.written = 0  # the last position written; events after it are only in memory
        self.reached = 0  # the last position projected into the rows held
        self.intact = True  # False while (or after) `add` is interrupted halfway

    @property
    def held(self) -> int:
        """Rows in memory."""
        return self.rows.size

    def add(self, events: Sequence[SessionEvent]) -> None:
        """Project `events` (in position order, after every event added so far) into the rows
        held. On an exception the rows held are no longer `intact`: `discard` them."""
        self.intact = False
        changes = project(events, rates=self.rates)
        with self.store.transaction():  # reads only; not left open until a flush
            self.store.load(changes, self.rows)
        apply(changes, self.rows)
        self.reached = events[-1].position
        self.intact = True

    def flush(self) -> int:
        """Write the rows held and the position they reach in one transaction; the rows
        written. On an exception nothing is written and the rows held are kept."""
        if not self.intact:
            raise RuntimeError("the rows held were left half changed: discard them")
        if self.reached <= self.written:
            return 0
        with self.store.transaction():
            count = self.store.flush(self.rows)
            self.store.save_position(PROJECTION, self.reached)
        self.discard(self.reached)
        return count

    def discard(self, written: int) -> None:
        """Forget the rows held; the schema holds everything up to position `written`."""
        self.rows = WorkingSet()
        self.written = self.reached = written
        self.intact = True
