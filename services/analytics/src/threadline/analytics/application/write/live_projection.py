"""The live projection: session events into the read models, exactly once.

A batch's effects and the projection's new position commit in one transaction; an event at or
before the stored position changes nothing, so a redelivered event is harmless. An unavailable
database is waited out (the `ProjectionStore` rides it out), never handed back for
redelivery, so no later batch can commit ahead of an earlier event. A batch that fails
otherwise is projected again one event at a time, and only the event that cannot be projected
is `NotProjected` (dead-lettered), with its reason.

Events are projected in the stream's order (each partition's relay stores its events in
position order; the projection keeps its position in each partition, `Positions`). A
consumer killed mid-batch leaves its messages unacknowledged until their ack wait ends, while
its successor is handed the ones after them: projected first, they would move the position past
the late ones, which would then be skipped as seen. So when the stream sequence of a delivery
does not follow the last one handled here (always after a start), the events before it that
are not projected yet are read back from the stream (`StreamHistory`) and projected first;
their own deliveries, when they come back, find the position past them. An event not
projected, and a known duplicate, move the position too.

A customer message whose id is already in the read models (the session derives an inbound
message's id from its wamid alone, so the same wamid reaching two conversations gives two
messages one id) is a known duplicate: the first is kept, the second counted, logged and
passed over without effect — not an error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from threadline.analytics.application.write.ports import (
    Delivered,
    DuplicateMessage,
    ProjectionReport,
    ProjectionStore,
    ProjectionWrite,
    ReadModelsClosed,
    StreamHistory,
)
from threadline.analytics.domain.write.positions import Positions
from threadline.analytics.domain.write.projection import PROJECTION, project, unseen
from threadline.analytics.domain.write.rates import EXAMPLE_RATES, Rates
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.failures import Failure, classify, describe

log = logging.getLogger(__name__)

# How many missing events one gap may hold before the oldest are given up on (a batch of the
# consumer that stopped, and a few naked ones, are far fewer).
MAX_GAP = 10_000


def _projected(delivered: Delivered, stored: Positions) -> bool:
    """Whether the event read back is at or before what its partition has projected (one
    that cannot be read: whether every partition is past it)."""
    if delivered.event is None:
        return delivered.position <= stored.complete
    return stored.seen(delivered.event)


class Projected:
    """The event is in the read models (or was already, or changes nothing)."""


PROJECTED = Projected()


@dataclass(frozen=True, slots=True)
class NotProjected:
    """An event the projection cannot take (to dead-letter, with `reason`)."""

    reason: str
    kind: str  # "undecodable" or "unprojectable"


ProjectionResult = Projected | NotProjected


class LiveProjection:
    """Projects each batch the stream delivers; one result per delivered event."""

    def __init__(
        self,
        store: ProjectionStore,
        *,
        report: ProjectionReport,
        history: StreamHistory | None = None,
        rates: Rates = EXAMPLE_RATES,
        projection: str = PROJECTION,
    ) -> None:
        """`history` reads the stream back by sequence (to fill gaps); None: deliveries are
        trusted to come in order (unit tests of the projection)."""
        self._store = store
        self._report = report
        self._history = history
        self._rates = rates
        self._projection = projection
        self._last_sequence: int | None = None  # the last stream sequence handled here

    async def project(self, batch: Sequence[Delivered]) -> list[ProjectionResult]:
        results: list[ProjectionResult] = [PROJECTED] * len(batch)
        # (index in the batch, or None for an event read from the stream to fill a gap)
        usable: list[tuple[int | None, SessionEvent]] = []
        for index, delivered in await self._in_order(batch):
            if delivered.event is not None:
                usable.append((index, delivered.event))
            elif index is not None:
                results[index] = NotProjected(delivered.problem, "undecodable")
        try:
            await self._commit([event for _, event in usable])
        except ReadModelsClosed:
            raise
        except Exception as error:
            log.warning(
                "batch of %d failed (%s); projecting one at a time", len(batch), describe(error)
            )
            for index, event in usable:
                result = await self._commit_alone(event)
                if index is not None:
                    results[index] = result
                elif isinstance(result, NotProjected):
                    # Its own delivery will find the position past it: say so loudly here.
                    log.error(
                        "event at position %d, read from the stream to fill a gap, cannot"
                        " be projected: %s",
                        event.position,
                        result.reason,
                    )
        return results

    async def _in_order(self, batch: Sequence[Delivered]) -> list[tuple[int | None, Delivered]]:
        """The deliveries in stream order, with any event missing before them read from the
        stream and put in its place (index None)."""
        order = sorted(range(len(batch)), key=lambda i: batch[i].sequence)
        if self._history is None:
            return [(index, batch[index]) for index in order]
        ordered: list[tuple[int | None, Delivered]] = []
        for index in order:
            sequence = batch[index].sequence
            last = self._last_sequence
            if last is None or sequence > last + 1:
                ordered += [(None, missing) for missing in await self._missing_before(sequence)]
            ordered.append((index, batch[index]))
            self._last_sequence = max(sequence, last or 0)
        return ordered

    async def _missing_before(self, sequence: int) -> list[Delivered]:
        """The events just before `sequence` in the stream that are not projected yet (still
        with a consumer that crashed), oldest first: read back until one that is."""
        assert self._history is not None
        stored = await self._store.positions(self._projection)
        missing: list[Delivered] = []
        at = sequence - 1
        while at >= 1 and len(missing) < MAX_GAP:
            found = await self._history.at(at)
            if found is None or _projected(found, stored):
                break
            missing.append(found)
            at -= 1
        else:
            if at >= 1:
                log.error(
                    "more than %d events before stream sequence %d are not projected; the"
                    " oldest of them may be skipped",
                    MAX_GAP,
                    sequence,
                )
        if missing:
            self._report.gap_filled(len(missing))
            log.info(
                "read %d events before stream sequence %d back from the stream (a consumer"
                " stopped before acknowledging them)",
                len(missing),
                sequence,
            )
        return missing[::-1]

    async def _commit_alone(self, event: SessionEvent) -> ProjectionResult:
        try:
            await self._commit([event])
        except ReadModelsClosed:
            raise
        except DuplicateMessage as duplicate:
            log.warning(
                "event at position %d adds a message whose id is already projected"
                " (%s): keeping the first",
                event.position,
                duplicate,
            )
            self._report.duplicate()
            await self._pass(event)
            return PROJECTED
        except Exception as error:
            log.exception("cannot project event at position %d", event.position)
            kind = classify(error)
            reason = describe(error)
            if kind is not Failure.PERMANENT:
                reason = f"{kind.value} failure persisted: {reason}"
            await self._pass(event)
            return NotProjected(reason, "unprojectable")
        return PROJECTED

    async def _pass(self, event: SessionEvent) -> None:
        """Move the position over an event handled without effect, so none waits on it."""

        async def move(transaction: ProjectionWrite) -> None:
            positions = await transaction.positions()
            if not positions.seen(event):
                await transaction.save_positions(positions.past([event]))

        await self._store.run(self._projection, move)

    async def _commit(self, events: Sequence[SessionEvent]) -> None:
        if not events:
            return

        async def write(transaction: ProjectionWrite) -> int | None:
            positions = await transaction.positions()
            fresh = unseen(events, after=positions)
            if not fresh:
                return None
            await transaction.write(project(fresh, rates=self._rates))
            await transaction.save_positions(positions.past(fresh))
            return fresh[-1].position

        reached = await self._store.run(self._projection, write)
        if reached is not None:
            self._report.reached(self._projection, reached)
