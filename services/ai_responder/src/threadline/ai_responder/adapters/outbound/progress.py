"""How far the responders have heard the conversation events: the progress of their shared
durable consumer, read from the server.

Every AI responder pulls from one durable (`AI_RESPONDER_REPLIES`), each its own batches, and
acknowledges an event once it is kept (in the view, and in its burst for a customer message).
The durable's acknowledgement floor is the last event before which every one has been
acknowledged, whichever responder took it; the moment the stream stored that event is then a
moment before which every customer message has been heard. The burst scheduler answers a burst
only once that moment has passed the burst's due time (`BurstScheduler`'s `heard_until`).

- Nothing waiting or unacknowledged: everything is heard, up to now.
- The floor not moving for `stuck_after` while events wait (one is being retried, a dependency
  is away): now as well — the bursts are answered as they were before this existed, rather than
  nobody being answered behind one event.
- The durable not made yet: nothing waits for it, so everything is heard.
- The server out of reach: the error is raised; the scheduler then answers as before too.

One reading serves every caller for `refresh` (each is a `CONSUMER.INFO` and, when the floor
moved, a `STREAM.MSG.GET`); callers meanwhile share it. Once this process has acknowledged
events (`acknowledged`, after its consumer settled a batch), the next caller reads again
whatever `refresh` says — `acknowledged_gap` after the acknowledgements, the time the server
takes to show them (about half a millisecond on NATS 2.9 and 2.15, measured: a reading sent
right after the acknowledgement saw it 2 to 32 % of the time).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

REFRESH = timedelta(milliseconds=40)
ACKNOWLEDGED_GAP_SECONDS = 0.002
STUCK_AFTER = timedelta(seconds=5)
WATCHING_GAP = timedelta(seconds=1)
BEGINNING = datetime.min.replace(tzinfo=UTC)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DurableProgress:
    """`heard_until()`: the moment before which the durable `durable` on `stream` has
    acknowledged every event it delivers."""

    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        durable: str,
        *,
        clock: Callable[[], datetime] = _utc_now,
        refresh: timedelta = REFRESH,
        stuck_after: timedelta = STUCK_AFTER,
        acknowledged_gap: float = ACKNOWLEDGED_GAP_SECONDS,
    ) -> None:
        self._js = js
        self._stream = stream
        self._durable = durable
        self._clock = clock
        self._refresh = refresh
        self._stuck_after = stuck_after
        self._acknowledged_gap = acknowledged_gap
        # When this process last acknowledged events not read since (event loop time).
        self._acknowledged_at: float | None = None
        self._reading: asyncio.Task[datetime] | None = None
        self._read_at: datetime | None = None
        self._value = BEGINNING
        self._floor = -1  # the acknowledgement floor last seen (a stream sequence)
        self._floor_at = BEGINNING  # when the stream stored the event at the floor
        self._still_since: datetime | None = None  # since when the floor is seen not moving
        self._stuck = False

    def acknowledged(self) -> None:
        """This process acknowledged events of the durable: the next `heard_until` reads the
        server again."""
        self._acknowledged_at = asyncio.get_running_loop().time()

    async def heard_until(self) -> datetime:
        now = self._clock()
        recent = self._read_at is not None and now - self._read_at < self._refresh
        if recent and self._acknowledged_at is None:
            return self._value
        if self._reading is None:
            self._reading = asyncio.create_task(self._read())
            self._reading.add_done_callback(self._done)
        # Shielded: one caller cancelled does not cancel the others' reading.
        return await asyncio.shield(self._reading)

    def _done(self, task: asyncio.Task[datetime]) -> None:
        self._reading = None
        if not task.cancelled() and task.exception() is None:
            self._value = task.result()

    async def _read(self) -> datetime:
        acknowledged_at, self._acknowledged_at = self._acknowledged_at, None
        if acknowledged_at is not None:
            wait = acknowledged_at + self._acknowledged_gap - asyncio.get_running_loop().time()
            if wait > 0:
                await asyncio.sleep(wait)
        try:
            info = await self._js.consumer_info(self._stream, self._durable)
        except NotFoundError:  # not made yet (the consumer starts after the scheduler)
            return self._clock()
        now = self._clock()
        # Stuck is the floor seen not moving by readings close together, not across a quiet
        # spell in which nobody asked.
        watching = self._read_at is not None and now - self._read_at <= WATCHING_GAP
        self._read_at = now
        if not info.num_pending and not info.num_ack_pending:
            self._still_since, self._stuck = None, False
            return now
        floor = (info.ack_floor.stream_seq if info.ack_floor is not None else 0) or 0
        if floor != self._floor:
            self._floor_at = await self._stored_at(floor) if floor else BEGINNING
            self._floor = floor
            self._still_since, self._stuck = now, False
        elif not watching or self._still_since is None:
            self._still_since = now
        elif now - self._still_since >= self._stuck_after:
            if not self._stuck:
                self._stuck = True
                log.warning(
                    "the responders' durable %s has not moved past stream sequence %d for %s "
                    "(%d events waiting, %d unacknowledged): bursts are answered without "
                    "waiting for the rest of their messages until it moves",
                    self._durable,
                    floor,
                    now - self._still_since,
                    info.num_pending or 0,
                    info.num_ack_pending or 0,
                )
            return now
        return self._floor_at

    async def _stored_at(self, sequence: int) -> datetime:
        """When the stream stored its message `sequence` (gone from the stream, by its limits
        or a purge: everything stored up to now is taken as heard, as without this)."""
        try:
            message = await self._js.get_msg(self._stream, seq=sequence)
        except NotFoundError:
            return self._clock()
        return message.time if message.time is not None else self._clock()
