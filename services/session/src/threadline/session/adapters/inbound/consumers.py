"""The NATS consumers' handler: facts from ingest, ai_responder and outbound (one durable
consumer per upstream stream, `durables_of("session")` in the topology), recorded in
micro-batches."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry import trace

from threadline.messaging.consumer import ACK, DeadLetter, Delivery, Retry, Settlement
from threadline.messaging.tracing import consuming
from threadline.servicekit.telemetry import current_traceparent
from threadline.session.adapters.integration_events.incoming_facts import (
    NotRecorded,
    UnknownFact,
    decode_fact,
)
from threadline.session.adapters.outbound import prometheus
from threadline.session.adapters.outbound.writer import EventStoreWriter
from threadline.session.application.facts import Fact
from threadline.session.application.outcomes import Applied, Ignored, NotYet, Outcome, Rejected

log = logging.getLogger(__name__)
tracer = trace.get_tracer("threadline.session")


class FactRecorder:
    """The batch handler: decode each delivery, record the batch at once, settle each."""

    def __init__(self, writer: EventStoreWriter) -> None:
        self._writer = writer

    async def __call__(self, batch: Sequence[Delivery]) -> Sequence[Settlement]:
        settlements: list[Settlement | None] = [None] * len(batch)
        facts: list[Fact] = []
        positions: list[int] = []
        for index, delivery in enumerate(batch):
            try:
                facts.append(
                    decode_fact(delivery.subject, delivery.data, trace=self._trace_of(delivery))
                )
                positions.append(index)
            except NotRecorded as error:
                log.debug("acknowledged without recording: %s", error)
                settlements[index] = ACK
            except UnknownFact as error:
                log.info("acknowledged without recording: %s", error)
                settlements[index] = ACK
            except Exception as error:
                settlements[index] = DeadLetter(f"cannot decode: {error!r}", slug="undecodable")
        outcomes: Sequence[Outcome] = []
        if facts:
            with prometheus.RECORD_SECONDS.time():
                outcomes = await self._writer.record(facts)
        prometheus.count_outcomes(outcomes, unread=len(batch) - len(facts))
        for index, outcome in zip(positions, outcomes, strict=True):
            settlements[index] = settle(outcome)
        return [s if s is not None else ACK for s in settlements]

    @staticmethod
    def _trace_of(delivery: Delivery) -> str:
        """The `traceparent` the fact is recorded under: a CONSUMER span of the trace the
        delivery carries (the subject an attribute, never the name)."""
        with consuming(
            "session.record",
            delivery.subject,
            delivery.headers,
            delivery_attempt=delivery.num_delivered,
            tracer=tracer,
        ):
            return current_traceparent()


def settle(outcome: Outcome) -> Settlement:
    match outcome:
        case Applied():
            return ACK
        case Ignored(reason):
            log.info("fact ignored: %s", reason)
            return ACK
        case NotYet(reason):
            return Retry(reason)
        case Rejected(reason, slug):
            return DeadLetter(reason, slug=slug)
