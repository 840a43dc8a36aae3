"""The dispatch consumer (`OUTBOUND_DISPATCH`): queued messages in, one traced dispatch each,
outcomes out.

A batch is handled concurrently (the dispatcher bounds the sends in flight and paces them).
Messages to one recipient (of one business number) are sent one after another, in stream
order, so an attachment queued before its caption also reaches WhatsApp first; a throttled
message is sent again before the recipient's next one, but a message that failed otherwise and
must be retried can still be overtaken by a later one to its recipient — except by the later
parts of its own reply (an operator's attachments, then the text), which wait for it
(`Waiting`, retried).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from threadline.messaging.consumer import (
    ACK,
    DeadLetter,
    Delivery,
    Retry,
    Settlement,
    settlement_of,
)
from threadline.messaging.tracing import messaging_attributes
from threadline.outbound.adapters.integration_events import Undecodable, queued_message
from threadline.outbound.adapters.outbound.prometheus import count_dispatch
from threadline.outbound.application.dispatcher import (
    DispatchResult,
    GaveUp,
    MessageDispatcher,
    Refused,
    Sent,
    Waiting,
)
from threadline.outbound.domain.outbound_message import OutboundMessage
from threadline.servicekit.telemetry import context_from_headers

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("threadline.outbound")

_Queued = tuple[int, Delivery, OutboundMessage]


class DispatchHandler:
    """A `BatchHandler` for `ConsumerLoop`; `max_deliver` must be the loop's own setting."""

    def __init__(self, dispatcher: MessageDispatcher, *, max_deliver: int):
        self._dispatcher = dispatcher
        self._max_deliver = max_deliver

    async def __call__(self, batch: Sequence[Delivery]) -> Sequence[Settlement]:
        outcomes: list[Settlement] = [ACK] * len(batch)
        recipients: dict[str, list[_Queued]] = {}
        for index, delivery in enumerate(batch):
            try:
                message = queued_message(delivery.data)
            except Undecodable as error:
                outcomes[index] = DeadLetter(str(error), slug="undecodable")
                continue
            recipients.setdefault(_in_order_with(message), []).append((index, delivery, message))

        async def send_in_order(queued: list[_Queued]) -> None:
            for index, delivery, message in queued:
                outcomes[index] = await self._send(delivery, message)

        await asyncio.gather(*(send_in_order(q) for q in recipients.values()))
        return outcomes

    async def _send(self, delivery: Delivery, message: OutboundMessage) -> Settlement:
        with _tracer.start_as_current_span(
            "outbound.send",
            context=context_from_headers(delivery.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                **messaging_attributes(
                    delivery.subject, "process", delivery_attempt=delivery.num_delivered
                ),
                "threadline.message_id": message.message_id,
                "threadline.conversation_id": message.conversation_id,
                "whatsapp.phone_number_id": message.phone_number_id,
            },
        ) as span:
            try:
                result = await self._dispatcher.dispatch(
                    message, last_attempt=delivery.num_delivered >= self._max_deliver
                )
            except Exception as error:
                log.exception("dispatching %s failed", message.message_id)
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, str(error)))
                # A permanent failure (e.g. a result too large to publish) is dead-lettered at
                # once; anything that may pass is retried (the ledger keeps a send single).
                return settlement_of(error)
            count_dispatch(result, queued=delivery.data)
            _describe(span, result)
            return _outcome(result)


def _in_order_with(message: OutboundMessage) -> str:
    """The key of the messages `message` must be sent in order with: its recipient's."""
    recipient = message.recipient.wa_id or message.recipient.user_id
    if recipient:
        return f"{message.phone_number_id}:{recipient}"
    return message.conversation_id or message.message_id


def _outcome(result: DispatchResult) -> Settlement:
    if isinstance(result, Sent | Refused):
        return ACK
    if isinstance(result, Waiting):
        return Retry(result.reason)
    return Retry(f"{result.failure.code} {result.failure.title}: {result.failure.message}")


def _describe(span: Span, result: DispatchResult) -> None:
    if isinstance(result, Sent):
        span.set_attribute("whatsapp.wamid", result.wamid)
        span.set_attribute("threadline.already_sent", result.already_sent)
        return
    if isinstance(result, Waiting):
        span.set_attribute("threadline.waiting", result.reason)
        return
    span.set_attribute("whatsapp.error.code", result.failure.code)
    span.set_attribute("whatsapp.error.retryable", result.failure.retryable)
    if isinstance(result, Refused | GaveUp):
        span.set_status(Status(StatusCode.ERROR, result.failure.title))
