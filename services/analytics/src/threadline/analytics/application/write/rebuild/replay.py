"""Rebuilding every read model from the event log, then switching to it without a gap.

1. **Rebuild.** Into the schema `analytics_rebuild` (created like `analytics`, without its
   secondary indexes), from its own position to the head of the log, in large batches
   projected into rows held in memory (`bulk`) and written with COPY, with the position they
   reach, whenever `flush_rows` rows are held: an interrupted rebuild resumes from the last
   position written. A run that cannot be projected that way (an event the live projection
   would dead-letter) is projected again batch by batch (`batches`), skipping only the events
   that fail alone.
2. **Index and catch up.** The secondary indexes are built; the events stored meanwhile are
   projected, still without stopping anything.
3. **Switch.** Holding the lock the live projector takes in each batch transaction (so no
   live batch is in flight), the last events up to the head are projected and, in the same
   transaction, `analytics` is renamed `analytics_old_<time>` and the rebuild schema
   `analytics`, its position with it. The live projector then continues from NATS: events at
   or before that position (those the rebuild already holds) are skipped as redeliveries,
   later ones applied. The old schema is dropped afterwards unless asked to keep it.

Queries keep reading `analytics` throughout; the rebuild never writes to it.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice, takewhile

from threadline.analytics.application.write.rebuild.batches import Skipped, project_into
from threadline.analytics.application.write.rebuild.bulk import BulkProjection
from threadline.analytics.application.write.rebuild.ports import EventSource, RebuildDatabase
from threadline.analytics.application.write.rebuild.read_ahead import read_ahead
from threadline.analytics.domain.write.projection import PROJECTION
from threadline.analytics.domain.write.rates import EXAMPLE_RATES, Rates
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.failures import Failure, classify

log = logging.getLogger(__name__)

DEFAULT_BATCH = 25_000
# Rows held in memory before they are written: ≈ 1.4 GB at the peak of a replay (measured;
# 300,000 rows: ≈ 0.9 GB). More rows held, fewer written twice: see docs/benchmarks.md.
DEFAULT_FLUSH_ROWS = 750_000


class ReplayRunning(RuntimeError):
    """Another replay holds the database."""


@dataclass(frozen=True, slots=True)
class Progress:
    phase: str  # rebuilding, indexing, catching up, switching, done
    position: int  # the last position projected (written at the next flush)
    head: int  # the log's last position, as last measured
    events: int  # events projected by this run
    resumed_from: int  # the position this run started after


@dataclass(slots=True)
class ReplayResult:
    resumed_from: int
    position: int = 0
    events: int = 0
    seconds: float = 0.0
    retired: str | None = None  # the old schema's new name, when it was kept
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


ProgressSink = Callable[[Progress], None]


def _ignore(_: Progress) -> None:
    return None


class Replay:
    """One replay of the whole log into `database` (whose connection it owns while running)."""

    def __init__(
        self,
        database: RebuildDatabase,
        event_log: EventSource,
        *,
        rates: Rates = EXAMPLE_RATES,
        batch_size: int = DEFAULT_BATCH,
        flush_rows: int = DEFAULT_FLUSH_ROWS,
    ) -> None:
        self.database, self.event_log = database, event_log
        self.rates, self.batch_size = rates, batch_size
        self.flush_rows = flush_rows
        self.store = database.store
        self.bulk = BulkProjection(self.store, rates=rates)
        self._progress: ProgressSink = _ignore
        self._head = 0
        self._result = ReplayResult(resumed_from=0)
        self._phase = "rebuilding"

    def run(
        self, progress: ProgressSink = _ignore, *, restart: bool = False, keep_old: bool = False
    ) -> ReplayResult:
        """Rebuild (or resume), switch, and drop the old schema unless `keep_old`."""
        started = time.perf_counter()
        self._progress = progress
        self._claim()
        # Each batch makes and drops millions of short-lived objects, and the rows held grow to
        # hundreds of thousands, none of them in cycles: the cyclic collector would scan them
        # again and again for nothing (a tenth of the run). It runs after each write instead.
        collecting = gc.isenabled()
        gc.disable()
        try:
            try:
                self._rebuild(restart=restart)
            except KeyboardInterrupt:
                self._keep_progress()
                raise
            retired = self._switch()
            if retired is not None and not keep_old:
                with self.database.transaction():
                    self.database.drop(retired)
                retired = None
        finally:
            if collecting:
                gc.enable()
            self.database.release()
        self._result.retired = retired
        self._result.seconds = time.perf_counter() - started
        self._phase = "done"
        self._report()
        return self._result

    def _rebuild(self, *, restart: bool) -> None:
        # A commit lost in a crash is redone on resume: the position commits with the rows.
        self.database.tune_for_bulk()
        position = self.prepare(restart=restart)
        self.bulk.discard(position)
        self._result = ReplayResult(resumed_from=position, position=position)
        self._head = self.event_log.head(at_least=position)
        self._replay_to_head("rebuilding")
        self._phase = "indexing"
        self._report()
        with self.database.transaction():
            self.database.build_deferred_indexes()
        self._replay_to_head("catching up")

    def _claim(self) -> None:
        """One replay at a time: the lock is the connection's until it closes."""
        if not self.database.claim():
            raise ReplayRunning("another replay is running against this database")

    def prepare(self, *, restart: bool = False) -> int:
        """Create the rebuild schema, or check the one an earlier run left; its position."""
        with self.database.transaction():
            self.database.prepare(restart=restart)
            return self.store.position(PROJECTION)

    def _replay_to_head(self, phase: str) -> None:
        self._phase = phase
        self._commit_all(self.event_log.read_all(after=self._result.position))

    def _commit_all(self, events: Iterator[SessionEvent]) -> None:
        for batch in read_ahead(events, self.batch_size):
            self._add(batch)
        self._flush()

    def _add(self, batch: list[SessionEvent]) -> None:
        if not batch:
            return
        try:
            self.bulk.add(batch)
        except Exception as error:
            if classify(error) is Failure.UNAVAILABLE:
                raise  # the database went away: nothing to learn about the events
            log.info("projecting again batch by batch up to %d: %s", batch[-1].position, error)
            self._project_carefully(until=batch[-1].position)
        self._result.position = batch[-1].position
        self._result.events += len(batch)
        self._head = max(self._head, self._result.position)
        if self.bulk.held >= self.flush_rows:
            self._flush()
        self._report()

    def _flush(self) -> None:
        try:
            if self.bulk.flush():
                gc.collect()
        except Exception as error:
            if classify(error) is Failure.UNAVAILABLE:
                raise  # (a limit exceeded, an OperationalError too, is the events')
            log.info("writing failed, projecting again batch by batch: %s", error)
            self._project_carefully(until=self.bulk.reached)

    def _keep_progress(self) -> None:
        """On Ctrl-C: write the rows held, unless the interrupt left them half changed."""
        if not self.bulk.intact:
            return
        with self.database.ignoring_errors():
            self.database.rollback()
            self.bulk.flush()

    def _project_carefully(self, *, until: int) -> None:
        """Project the events after the last position written, up to `until`, a batch per
        transaction, skipping the ones that fail alone (as the live projection would)."""
        self.bulk.discard(self.bulk.written)
        events = self.event_log.read_all(after=self.bulk.written)
        try:
            wanted = takewhile(lambda event: event.position <= until, events)
            while batch := list(islice(wanted, self.batch_size)):
                with self.database.transaction():
                    self._result.skipped += project_into(self.store, batch, rates=self.rates)
                    self.store.save_position(PROJECTION, batch[-1].position)
                self.bulk.discard(batch[-1].position)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

    def _switch(self) -> str | None:
        """Catch up to the head and swap schemas, holding the projections lock."""
        retired = f"{self.database.live_schema}_old_{datetime.now(UTC):%Y%m%d%H%M%S}"
        self._phase = "switching"
        with self.database.transaction():
            self.database.hold_projections_lock()
            self._commit_all(self.event_log.read_all(after=self._result.position))
            live = self.database.live_position(PROJECTION)
            if live > self._result.position:
                raise RuntimeError(
                    f"the live projection is at position {live}, past the event log's head"
                    f" ({self._result.position}): is this the session's event log?"
                )
            had_live = self.database.switch(retired=retired)
        log.info("switched to the rebuilt read models at position %d", self._result.position)
        return retired if had_live else None

    def _report(self) -> None:
        result = self._result
        self._progress(
            Progress(
                phase=self._phase,
                position=result.position,
                head=self._head,
                events=result.events,
                resumed_from=result.resumed_from,
            )
        )
