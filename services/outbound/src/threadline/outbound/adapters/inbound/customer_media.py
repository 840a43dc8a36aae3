"""The media consumer (`OUTBOUND_MEDIA`): every customer message the session recorded; the ones
with a file (image, video, audio, document, sticker) have it kept, one traced fetch each.

A consumer of its own, beside the dispatch and typing consumers, with its own HTTP client: a
slow or large download never holds up a reply. Messages are independent of one another (the
store is content-addressed, so even the same file twice needs no order), so a batch is handled
concurrently, at most `concurrency` at once.

What each becomes: a text or other message without a file → acked at once; kept, refused or
given up (`MediaKeepFailed` announced) → acked; a failure that may pass → retried with the
loop's back-off, and on its last delivery given up with the reason; an event that is not a
customer message, or a media message without a media id → dead-lettered as undecodable.
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
from threadline.outbound.adapters.integration_events import Undecodable, customer_media
from threadline.outbound.adapters.outbound.prometheus import count_media
from threadline.outbound.application.media_keeper import (
    GaveUp,
    KeepResult,
    Kept,
    MediaKeeper,
    Refused,
    WillRetry,
)
from threadline.servicekit.telemetry import context_from_headers

_tracer = trace.get_tracer("threadline.outbound")


def media_handler(keeper: MediaKeeper, *, concurrency: int, max_deliver: int) -> BatchHandler:
    """A `BatchHandler` for `ConsumerLoop`; `max_deliver` must be the loop's own setting."""
    handler = MediaHandler(keeper, max_deliver=max_deliver)
    return concurrently_by_key(
        handler, key_of=lambda delivery: str(delivery.stream_sequence), limit=concurrency
    )


class MediaHandler:
    """One delivery: decode, keep, settle."""

    def __init__(self, keeper: MediaKeeper, *, max_deliver: int) -> None:
        self._keeper = keeper
        self._max_deliver = max_deliver

    async def __call__(self, delivery: Delivery) -> Settlement:
        try:
            media = customer_media(delivery.data)
        except Undecodable as error:
            return DeadLetter(str(error), slug="undecodable")
        if media is None:
            return ACK
        with _tracer.start_as_current_span(
            "outbound.keep_media",
            context=context_from_headers(delivery.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                **messaging_attributes(
                    delivery.subject, "process", delivery_attempt=delivery.num_delivered
                ),
                "threadline.message_id": media.message_id,
                "threadline.conversation_id": media.conversation_id,
                "whatsapp.media_id": media.media_id,
                "whatsapp.media_type": media.media_type,
            },
        ) as span:
            result = await self._keeper.keep(
                media,
                attempt=delivery.num_delivered,
                last_attempt=delivery.num_delivered >= self._max_deliver,
            )
            count_media(result)
            _describe(span, result)
            if isinstance(result, WillRetry):
                return Retry(result.reason)
            return ACK


def _describe(span: trace.Span, result: KeepResult) -> None:
    if isinstance(result, Kept):
        span.set_attribute("threadline.media.sha256", result.stored.sha256)
        span.set_attribute("threadline.media.size", result.stored.size)
        span.set_attribute("threadline.media.downloaded", result.downloaded)
    elif isinstance(result, Refused | GaveUp):
        span.set_status(Status(StatusCode.ERROR, result.reason))
