"""The projections' consumer: session events from NATS into the read models, exactly once.

A batch's effects and the projection's new position commit in one transaction; an event at or
before the stored position changes nothing, so a redelivered event is harmless. An unavailable
database is waited out (see `retries`), never handed back for redelivery, so no later batch can
commit ahead of an earlier event. A batch that fails otherwise is projected again one event at
a time, and only the event that cannot be projected is dead-lettered, with its reason.

Events are projected in the stream's order (the relay stores them in position order). A
consumer killed mid-batch leaves its messages unacknowledged until their ack wait ends, while
its successor is handed the ones after them: projected first, they would move the position past
the late ones, which would then be skipped as seen. So when the stream sequence of a delivery
does not follow the last one handled here (always after a start), the events before it that
are not projected yet are read back from the stream and projected first; their own deliveries,
when they come back, find the position past them. A dead-lettered event, and a known
duplicate, move the position too.

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

from threadline.analytics.write.lock import hold_projections_lock
from threadline.analytics.write.positions import lock_position, read_position, save_position
from threadline.analytics.write.projection import PROJECTION, project, unseen
from threadline.analytics.write.rates import EXAMPLE_RATES, Rates
from threadline.analytics.write.retries import DEFAULT_BACKOFF, Backoff, until_done
from threadline.analytics.write.sanitise import clean_event
from threadline.analytics.write.writer import write
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.consumer import ACK, DeadLetter, Delivery, Settlement
from threadline.messaging.failures import Failure, classify, describe
from threadline.messaging.relay import position_of
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
GAP_FILLS = Counter(
    "threadline_analytics_gap_events_total",
    "Events read back from the stream because a consumer stopped before acknowledging them.",
)
POSITION_GAUGE = Gauge(
    "threadline_analytics_projection_position",
    "The last event-log position committed by the projection.",
    ["projection"],
)


DUPLICATE_TABLES = frozenset({"messages", "response_facts"})
UNIQUE_VIOLATION = "23505"


# The message at a stream sequence, as a delivery (None: no such message is kept).
MessageAt = Callable[[int], Awaitable[Delivery | None]]
# How many missing events one gap may hold before the oldest are given up on (a batch of the
# consumer that stopped, and a few naked ones, are far fewer).
MAX_GAP = 10_000


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
        position = position_of(delivery.headers)
        if not position:
            raise UndecodableEvent("the event carries no position")
        event.position = position
    return event


class ProjectionConsumer:
    """The batch handler given to the `ConsumerLoop`."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        projection: str = PROJECTION,
        backoff: Backoff = DEFAULT_BACKOFF,
        rates: Rates = EXAMPLE_RATES,
        read_at: MessageAt | None = None,
    ) -> None:
        """`read_at` reads a message of the stream by sequence (to fill gaps); None: deliveries
        are trusted to come in order (unit tests of the projection)."""
        self._pool = pool
        self._rates = rates
        self._projection = projection
        self._backoff = backoff
        self._read_at = read_at
        self._last_sequence: int | None = None  # the last stream sequence handled here

    async def handle(self, batch: Sequence[Delivery]) -> Sequence[Settlement]:
        outcomes: list[Settlement] = [ACK] * len(batch)
        # (index in the batch, or None for an event read from the stream to fill a gap)
        decoded: list[tuple[int | None, SessionEvent]] = []
        for index, delivery in await self._in_order(batch):
            try:
                decoded.append((index, decode(delivery)))
            except UndecodableEvent as error:
                if index is not None:
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
                    outcome = await self._commit_alone(event)
                    if index is not None:
                        outcomes[index] = outcome
                    elif isinstance(outcome, DeadLetter):
                        # Its own delivery will find the position past it: say so loudly here.
                        log.error(
                            "event at position %d, read from the stream to fill a gap, cannot"
                            " be projected: %s",
                            event.position,
                            outcome.reason,
                        )
        _count(outcomes)
        return outcomes

    async def _in_order(self, batch: Sequence[Delivery]) -> list[tuple[int | None, Delivery]]:
        """The deliveries in stream order, with any event missing before them read from the
        stream and put in its place (index None)."""
        order = sorted(range(len(batch)), key=lambda i: batch[i].stream_sequence)
        if self._read_at is None:
            return [(index, batch[index]) for index in order]
        ordered: list[tuple[int | None, Delivery]] = []
        for index in order:
            sequence = batch[index].stream_sequence
            last = self._last_sequence
            if last is None or sequence > last + 1:
                ordered += [(None, missing) for missing in await self._missing_before(sequence)]
            ordered.append((index, batch[index]))
            self._last_sequence = max(sequence, last or 0)
        return ordered

    async def _missing_before(self, sequence: int) -> list[Delivery]:
        """The events just before `sequence` in the stream that are not projected yet (still
        with a consumer that crashed), oldest first: read back until one that is."""
        assert self._read_at is not None
        async with self._pool.connection() as connection:
            stored = await read_position(connection, self._projection)
        missing: list[Delivery] = []
        at = sequence - 1
        while at >= 1 and len(missing) < MAX_GAP:
            found = await self._read_at(at)
            if found is None or position_of(found.headers) <= stored:
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
            GAP_FILLS.inc(len(missing))
            log.info(
                "read %d events before stream sequence %d back from the stream (a consumer"
                " stopped before acknowledging them)",
                len(missing),
                sequence,
            )
        return missing[::-1]

    async def _commit_alone(self, event: SessionEvent) -> Settlement:
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


def stream_reader(js: JetStreamContext, stream: str) -> MessageAt:
    """`MessageAt` over a JetStream stream."""

    async def read_at(sequence: int) -> Delivery | None:
        try:
            message = await js.get_msg(stream, seq=sequence)
        except NotFoundError:
            return None
        return Delivery(
            subject=message.subject or "",
            data=message.data or b"",
            headers={k: str(v) for k, v in (message.headers or {}).items()},
            stream_sequence=sequence,
            num_delivered=1,
        )

    return read_at


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


def _count(outcomes: Sequence[Settlement]) -> None:
    dead = sum(isinstance(outcome, DeadLetter) for outcome in outcomes)
    EVENTS.labels("projected").inc(sum(outcome is ACK for outcome in outcomes))
    if dead:
        EVENTS.labels("dead_lettered").inc(dead)
