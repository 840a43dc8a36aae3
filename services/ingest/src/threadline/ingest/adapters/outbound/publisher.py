"""The `WebhookPublisher` over JetStream: raw bodies on `RAW_WEBHOOK` (INGEST_RAW), facts on
their routes (INGEST_EVENTS), dead letters on DEAD_LETTERS — each under an id that makes a
webhook delivered again change nothing (`Nats-Msg-Id`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from threadline.ingest.adapters.integration_events import integration_event
from threadline.ingest.adapters.outbound.subjects import (
    dead_letter_msg_id,
    fact_subject,
    raw_msg_id,
    raw_subject,
)
from threadline.ingest.application.ports import NotAcknowledged, UnencodableFact
from threadline.ingest.domain.facts import ParsedFact
from threadline.messaging.bus import Outgoing, PipelinedBus, PublishAck
from threadline.messaging.dead_letters import dead_letter
from threadline.messaging.topology import INGEST_RAW, Topology

SERVICE = "ingest"
RECEIVED_AT = "Threadline-Received-At"


class JetStreamPublisher:
    """Publishes on `bus`; whatever the bus fails with (timeout, no stream, connection lost),
    the effect is the same: not kept (`NotAcknowledged`), so WhatsApp must send it again."""

    def __init__(self, bus: PipelinedBus, topology: Topology) -> None:
        self._bus = bus
        self._topology = topology

    async def keep_raw(
        self, body: bytes, phone_number_id: str | None, received_at: datetime
    ) -> None:
        subject = raw_subject(self._topology, phone_number_id)
        headers = {RECEIVED_AT: received_at.isoformat()}
        await self._publish(subject, body, msg_id=raw_msg_id(body), headers=headers)

    async def publish_facts(self, facts: Sequence[ParsedFact]) -> int:
        """Written together, in order, on the one connection; the duplicates counted."""
        try:
            payloads = [integration_event(fact).SerializeToString() for fact in facts]
        except Exception as error:
            raise UnencodableFact(f"{type(error).__name__}: {error}") from error
        # Pipelined (`publish_each`): a status webhook's one fact costs less CPU than as a task
        # of its own awaiting its own acknowledgement (docs/benchmarks.md §9).
        outcomes = await self._bus.publish_each(
            [
                Outgoing(fact_subject(self._topology, fact), payload, fact.msg_id, {})
                for fact, payload in zip(facts, payloads, strict=True)
            ]
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            raise NotAcknowledged(f"{len(failures)} of {len(facts)} facts") from failures[0]
        return sum(o.duplicate for o in outcomes if isinstance(o, PublishAck))

    async def dead_letter(
        self, body: bytes, phone_number_id: str | None, *, slug: str, reason: str
    ) -> None:
        try:
            await dead_letter(
                self._bus,
                self._topology,
                service=SERVICE,
                slug=slug,
                reason=reason,
                subject=raw_subject(self._topology, phone_number_id),
                data=body,
                stream=self._topology.stream(INGEST_RAW),
                msg_id=dead_letter_msg_id(slug, body),
            )
        except Exception as error:
            raise NotAcknowledged(f"dead letter not acknowledged: {error!r}") from error

    async def _publish(
        self, subject: str, payload: bytes, *, msg_id: str, headers: dict[str, str] | None = None
    ) -> PublishAck:
        try:
            return await self._bus.publish(subject, payload, msg_id=msg_id, headers=headers)
        except Exception as error:
            raise NotAcknowledged(f"{subject} not acknowledged: {error!r}") from error
