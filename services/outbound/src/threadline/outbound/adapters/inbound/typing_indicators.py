"""The typing consumer (`OUTBOUND_TYPING`): typing indicators the assistant asks for while it
writes a reply, one traced Graph API call each.

A consumer of its own, beside the dispatch consumer: a slow or failing read receipt never holds
up a message. Requests are independent of one another (no order to keep, not even within a
conversation: each marks one message read), so a batch is handled concurrently, at most
`concurrency` at once.

What each becomes: shown or too late → acked; a transient failure → retried with the loop's
back-off (a retry that comes too late is then dropped as stale); a permanent one (Meta's 400 for
a message id it does not know) → dead-lettered with the WhatsApp error as its reason.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from threadline.messaging.consumer import (
    ACK,
    BatchHandler,
    DeadLetter,
    Delivery,
    Retry,
    Settlement,
    concurrently_by_key,
)
from threadline.messaging.tracing import messaging_attributes
from threadline.outbound.adapters.integration_events import (
    Undecodable,
    typing_indicator_requested,
)
from threadline.outbound.adapters.outbound.prometheus import count_typing_indicator
from threadline.outbound.application.typing_indicators import (
    NotShown,
    TooLate,
    TypingIndicators,
    TypingResult,
)
from threadline.servicekit.telemetry import context_from_headers

_tracer = trace.get_tracer("threadline.outbound")

REFUSED = "typing_refused"  # the dead-letter slug of a request WhatsApp will never take


def typing_handler(indicators: TypingIndicators, *, concurrency: int) -> BatchHandler:
    """A `BatchHandler` for `ConsumerLoop`."""
    handler = TypingHandler(indicators)
    return concurrently_by_key(
        handler, key_of=lambda delivery: str(delivery.stream_sequence), limit=concurrency
    )


class TypingHandler:
    """One delivery: decode, show, settle."""

    def __init__(self, indicators: TypingIndicators) -> None:
        self._indicators = indicators

    async def __call__(self, delivery: Delivery) -> Settlement:
        try:
            request = typing_indicator_requested(delivery.data)
        except Undecodable as error:
            return DeadLetter(str(error), slug="undecodable")
        with _tracer.start_as_current_span(
            "outbound.typing_indicator",
            context=context_from_headers(delivery.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                **messaging_attributes(
                    delivery.subject, "process", delivery_attempt=delivery.num_delivered
                ),
                "threadline.conversation_id": request.conversation_id,
                "whatsapp.phone_number_id": request.phone_number_id,
                "whatsapp.wamid": request.wamid,
            },
        ) as span:
            result = await self._indicators.show(request)
            count_typing_indicator(result)
            if isinstance(result, TooLate):
                span.set_attribute("threadline.typing.age_seconds", result.age.total_seconds())
            if isinstance(result, NotShown):
                span.set_attribute("whatsapp.error.code", result.failure.code)
                span.set_attribute("whatsapp.error.retryable", result.failure.retryable)
                span.set_status(Status(StatusCode.ERROR, result.failure.title))
            return _outcome(result)


def _outcome(result: TypingResult) -> Settlement:
    if not isinstance(result, NotShown):
        return ACK
    failure = result.failure
    reason = f"{failure.code} {failure.title}: {failure.details or failure.message}"
    if failure.retryable:
        return Retry(reason)
    return DeadLetter(reason, slug=REFUSED)
