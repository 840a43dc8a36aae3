"""The projections' consumer: session events from NATS into the read models, exactly once.

A batch's effects and the projection's new position commit in one transaction; an event at or
before the stored position changes nothing, so a redelivered event is harmless. An unavailable
database is waited out (see `retries`), never handed back for redelivery, so no later batch can
commit ahead of an earlier event. A batch that fails otherwise is projected again one event at
a time, and only the event that cannot be projected is dead-lettered, with its reason.

A customer message whose id is already in the read models (the session derives an inbound
message's id from its wamid alone, so the same wamid reaching two conversations gives two
messages one id) is a known duplicate: the first is kept, the second counted, logged and
acknowledged without effect — not an error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry import trace
from prometheus_client import Counter, Gauge
from psycopg_pool import AsyncConnectionPool, PoolClosed

from threadline.analytics.projection import PROJECTION, project, unseen
from threadline.analytics.rates import EXAMPLE_RATES, Rates
from threadline.analytics.read_models.lock import hold_projections_lock
from threadline.analytics.read_models.positions import lock_position, save_position
from threadline.analytics.read_models.writer import write
from threadline.analytics.retries import DEFAULT_BACKOFF, Backoff, until_done
from threadline.analytics.sanitise import clean_event
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.consumer import ACK, DeadLetter, Delivery, Outcome
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
POSITION_GAUGE = Gauge(
    "threadline_analytics_projection_position",
    "The last event-log position committed by the projection.",
    ["projection"],
)


DUPLICATE_TABLES = frozenset({"messages", "response_facts"})
UNIQUE_VIOLATION = "23505"


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
    ) -> None:
        self._pool = pool
        self._rates = rates
        self._projection = projection
        self._backoff = backoff

    async def handle(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        outcomes: list[Outcome] = [ACK] * len(batch)
        decoded: list[tuple[int, SessionEvent]] = []
        for index, delivery in enumerate(batch):
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
                return ACK
            log.exception("cannot project event at position %d", event.position)
            kind = classify(error)
            reason = describe(error)
            if kind is not Failure.PERMANENT:
                reason = f"{kind.value} failure persisted: {reason}"
            return DeadLetter(reason, "unprojectable")
        return ACK

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
    EVENTS.labels("projected").inc(len(outcomes) - dead)
    if dead:
        EVENTS.labels("dead_lettered").inc(dead)
