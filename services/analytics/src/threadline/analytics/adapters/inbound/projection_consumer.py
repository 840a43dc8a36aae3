"""The projection's consumer of SESSION_EVENTS (`ANALYTICS_PROJECTIONS`): each batch of
deliveries decoded, handed to the `LiveProjection` in one traced span, and settled — an event
the projection cannot take is dead-lettered with its reason, every other one acknowledged."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from threadline.analytics.adapters.integration_events import delivered
from threadline.analytics.adapters.outbound.prometheus import count_settled
from threadline.analytics.application.write.live_projection import (
    LiveProjection,
    NotProjected,
    ProjectionResult,
)
from threadline.messaging.consumer import ACK, DeadLetter, Delivery, Settlement
from threadline.messaging.tracing import SYSTEM
from threadline.servicekit.telemetry import context_from_headers

tracer = trace.get_tracer("threadline.analytics")


class ProjectionConsumer:
    """The batch handler given to the `ConsumerLoop`."""

    def __init__(self, projection: LiveProjection) -> None:
        self._projection = projection

    async def handle(self, batch: Sequence[Delivery]) -> Sequence[Settlement]:
        events = [delivered(delivery) for delivery in batch]
        # One CONSUMER span for the batch, linked to each message's trace (semantic conventions
        # for batch processing).
        with tracer.start_as_current_span(
            "analytics.project",
            kind=SpanKind.CONSUMER,
            links=_links(batch),
            attributes={
                "messaging.system": SYSTEM,
                "messaging.operation": "process",
                "messaging.operation.type": "process",
                "messaging.batch.message_count": len(batch),
            },
        ):
            results = await self._projection.project(events)
        settlements = [_settlement(result) for result in results]
        count_settled(settlements)
        return settlements


def _settlement(result: ProjectionResult) -> Settlement:
    if isinstance(result, NotProjected):
        return DeadLetter(result.reason, result.kind)
    return ACK


def _links(batch: Sequence[Delivery]) -> list[trace.Link]:
    contexts = (
        trace.get_current_span(context_from_headers(d.headers)).get_span_context() for d in batch
    )
    return [trace.Link(context) for context in contexts if context.is_valid]
