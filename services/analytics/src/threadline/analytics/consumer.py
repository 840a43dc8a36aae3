"""The projections' consumer: session events from NATS into the read models, exactly once.

A batch's effects and the projection's new position commit in one transaction; an event at or
before the stored position changes nothing, so a redelivered event is harmless. An unavailable
database is waited out (see `retries`), never handed back for redelivery, so no later batch can
commit ahead of an earlier event. A batch that fails otherwise is projected again one event at
a time, and only the event that cannot be projected is dead-lettered, with its reason.

Events are projected in the stream's order (the relay stores them in position order). A
consumer killed mid-batch leaves its messages unacknowledged until their ack wait ends, while
its successor is handed the ones after them: projected first, they would move the position past
the late ones, which would then be skipped as seen. So before an event is projected whose
stream predecessor was not handled by this process, the predecessor's position is looked up: if
it is beyond the stored position, the event `Wait`s (delivered again shortly) until the
predecessor has been handled. A dead-lettered event, and a known duplicate, move the position
too, so nothing waits on them.

A customer message whose id is already in the read models (the session derives an inbound
message's id from its wamid alone, so the same wamid reaching two conversations gives two
messages one id) is a known duplicate: the first is kept, the second counted, logged and
acknowledged without effect — not an error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from google.protobuf.message import DecodeError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from opentelemetry import trace
from prometheus_client import Counter, Gauge
from psycopg_pool import AsyncConnectionPool, PoolClosed

from threadline.analytics.projection import PROJECTION, project, unseen
from threadline.analytics.rates import EXAMPLE_RATES, Rates
from threadline.analytics.read_models.lock import hold_projections_lock
from threadline.analytics.read_models.positions import lock_position, read_position, save_position
from threadline.analytics.read_models.writer import write
from threadline.analytics.retries import DEFAULT_BACKOFF, Backoff, until_done
from threadline.analytics.sanitise import clean_event
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.consumer import ACK, DeadLetter, Delivery, Outcome, Wait
from threadline.messaging.failures import Failure, classify, describe
from threadline.messaging.relay import POSITION
from threadline.servicekit.telemetry import context_from_headers

log = logging.getLogger(__name__)
tracer = trace.get_tracer("threadline.analytics")

EVENTS = Counter(
    "threadline_analytics_events_total",
    "Session events handled by the projections, by outcome.",
    ["outcome"],
)
DUPLICATES = Counter(
    "threadline_analytics_duplicate_messages_total",
    "Events adding a message whose id was already projected (the first is kept).",
)
WAITS = Counter(
    "threadline_analytics_out_of_order_waits_total",
    "Deliveries handed back because an earlier event of the stream was not projected yet.",
)
POSITION_GAUGE = Gauge(
    "threadline_analytics_projection_position",
    "The last event-log position committed by the projection.",
    ["projection"],
)


DUPLICATE_TABLES = frozenset({"messages", "response_facts"})
UNIQUE_VIOLATION = "23505"


# The position of the event at a stream sequence (None: no such message is kept).
PositionAt = Callable[[int], Awaitable[int | None]]


class UndecodableEvent(ValueError):
    """A message on SESSION_EVENTS that is not a usable `SessionEvent`."""


def decode(delivery: Delivery) -> SessionEvent:
    """The delivery's event, its position taken from the header when the field is unset."""
    event = SessionEvent()
    try:
        event.ParseFromString(delivery.data)
    except DecodeError as error:
        raise UndecodableEvent(f"not a SessionEvent: {error}") from None
    if b"\x00" in delivery.data:  # a string holding NUL holds this byte (rarely anything else)
        clean_event(event)
    if not event.position:
        header = delivery.headers.get(POSITION, "")
        if not header.isdigit() or int(header) == 0:
            raise UndecodableEvent("the event carries no position")
        event.position = int(header)
    return event


class Projector:
    """The batch handler given to the `ConsumerLoop`."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        projection: str = PROJECTION,
        backoff: Backoff = DEFAULT_BACKOFF,
        rates: Rates = EXAMPLE_RATES,
        position_at: PositionAt | None = None,
    ) -> None:
        """`position_at` reads the stream (the order check); None: deliveries are trusted to
        come in order (unit tests of the projection)."""
        self._pool = pool
        self._rates = rates
        self._projection = projection
        self._backoff = backoff
        self._position_at = position_at
        self._last_sequence: int | None = None  # the last stream sequence handled here

    async def handle(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        outcomes: list[Outcome] = [ACK] * len(batch)
        decoded: list[tuple[int, SessionEvent]] = []
        for index in await self._in_order(batch, outcomes):
            delivery = batch[index]
            try:
                decoded.append((index, decode(delivery)))
            except UndecodableEvent as error:
                outcomes[index] = DeadLetter(str(error), "undecodable")
        with tracer.start_as_current_span("analytics.project", links=_links(batch)) as span:
            span.set_attribute("messaging.batch.message_count", len(batch))
            try:
                await self._commit([event for _, event in decoded])
            except PoolClosed:
                raise
            except Exception as error:
                log.warning(
                    "batch of %d failed (%s); projecting one at a time", len(batch), describe(error)
                )
                for index, event in decoded:
                    outcomes[index] = await self._commit_alone(event)
        _count(outcomes)
        return outcomes

    async def _in_order(self, batch: Sequence[Delivery], outcomes: list[Outcome]) -> list[int]:
        """The indexes of the deliveries that may be projected now, in stream order; the others
        are set to `Wait` (from the first whose predecessor is not handled yet)."""
        order = sorted(range(len(batch)), key=lambda i: batch[i].stream_sequence)
        if self._position_at is None:
            return order
        ready: list[int] = []
        for at, index in enumerate(order):
            sequence = batch[index].stream_sequence
            last = self._last_sequence
            if (last is not None and sequence <= last + 1) or await self._follows(sequence):
                ready.append(index)
                self._last_sequence = max(sequence, last or 0)
                continue
            for later in order[at:]:
                outcomes[later] = Wait(f"stream sequence {sequence - 1} is not projected yet")
            WAITS.inc(len(order) - at)
            break
        return ready

    async def _follows(self, sequence: int) -> bool:
        """Whether the event before `sequence` in the stream is already projected (or gone)."""
        assert self._position_at is not None
        if sequence <= 1:
            return True
        try:
            before = await self._position_at(sequence - 1)
            if before is None:
                return True
            async with self._pool.connection() as connection:
                return before <= await read_position(connection, self._projection)
        except PoolClosed:
            raise
        except Exception as error:
            log.warning(
                "cannot tell whether sequence %d may go first: %s", sequence, describe(error)
            )
            return False

    async def _commit_alone(self, event: SessionEvent) -> Outcome:
        try:
            await self._commit([event])
        except PoolClosed:
            raise
        except Exception as error:
            if known_duplicate(error):
                log.warning(
                    "event at position %d adds a message whose id is already projected"
                    " (%s): keeping the first",
                    event.position,
                    describe(error, limit=300),
                )
                DUPLICATES.inc()
                await self._pass(event)
                return ACK
            log.exception("cannot project event at position %d", event.position)
            kind = classify(error)
            reason = describe(error)
            if kind is not Failure.PERMANENT:
                reason = f"{kind.value} failure persisted: {reason}"
            await self._pass(event)
            return DeadLetter(reason, "unprojectable")
        return ACK

    async def _pass(self, event: SessionEvent) -> None:
        """Move the position over an event handled without effect, so none waits on it."""

        async def move() -> None:
            async with self._pool.connection() as connection, connection.transaction():
                await hold_projections_lock(connection)
                if event.position > await lock_position(connection, self._projection):
                    await save_position(connection, self._projection, event.position)

        await until_done(move, backoff=self._backoff)

    async def _commit(self, events: Sequence[SessionEvent]) -> None:
        if events:
            await until_done(lambda: self._transaction(events), backoff=self._backoff)

    async def _transaction(self, events: Sequence[SessionEvent]) -> None:
        async with self._pool.connection() as connection, connection.transaction():
            await hold_projections_lock(connection)  # a replay switches schemas between batches
            stored = await lock_position(connection, self._projection)
            fresh = unseen(events, after=stored)
            if not fresh:
                return
            await write(connection, project(fresh, rates=self._rates))
            await save_position(connection, self._projection, fresh[-1].position)
        POSITION_GAUGE.labels(self._projection).set(fresh[-1].position)


def stream_positions(js: JetStreamContext, stream: str) -> PositionAt:
    """`PositionAt` reading the relay's position header of a message kept in `stream`."""

    async def position_at(sequence: int) -> int | None:
        try:
            message = await js.get_msg(stream, seq=sequence)
        except NotFoundError:
            return None
        header = str((message.headers or {}).get(POSITION, ""))
        return int(header) if header.isdigit() else None

    return position_at


def known_duplicate(error: BaseException) -> bool:
    """A message (or its response fact) inserted under an id already projected."""
    diag = getattr(error, "diag", None)
    return (
        getattr(error, "sqlstate", None) == UNIQUE_VIOLATION
        and getattr(diag, "table_name", None) in DUPLICATE_TABLES
    )


def _links(batch: Sequence[Delivery]) -> list[trace.Link]:
    contexts = (
        trace.get_current_span(context_from_headers(d.headers)).get_span_context() for d in batch
    )
    return [trace.Link(context) for context in contexts if context.is_valid]


def _count(outcomes: Sequence[Outcome]) -> None:
    dead = sum(isinstance(outcome, DeadLetter) for outcome in outcomes)
    EVENTS.labels("projected").inc(sum(outcome is ACK for outcome in outcomes))
    if dead:
        EVENTS.labels("dead_lettered").inc(dead)
