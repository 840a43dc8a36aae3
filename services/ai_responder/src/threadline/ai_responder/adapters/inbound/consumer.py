"""The conversation events of SESSION_EVENTS in (durable `AI_RESPONDER_REPLIES`): the
responder's view kept up to date, and customer messages added to their bursts.

Each conversation's events are handled in order (`conversation_of` is the key of
`concurrently_by_key`); the event types the responder has no use for (statuses, dispatches, ...)
are acknowledged from their subject alone, without being decoded — on NATS before 2.10, which
delivers them all; later servers deliver only `FOLLOWED`."""

from __future__ import annotations

from datetime import UTC
from typing import Final

from nats.errors import TimeoutError as NatsTimeoutError
from opentelemetry import trace

from threadline.ai_responder.adapters.inbound.business_messages import outbound_text
from threadline.ai_responder.adapters.integration_events import (
    customer_message,
    failed_attachment,
    session_event,
    stored_attachment,
)
from threadline.ai_responder.application.following import FollowConversations
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.media import MediaStoreUnavailable
from threadline.messaging.consumer import ACK, DeadLetter, Delivery, Settlement, Unavailable
from threadline.messaging.failures import describe
from threadline.messaging.topology import AI_RESPONDER_FOLLOWS
from threadline.messaging.tracing import consuming

tracer = trace.get_tracer("threadline.ai_responder")
# Conversations whose events are handled at once (each conversation's in order).
CONCURRENCY: Final = 32
# The conversation events the view is made of (the last token of their subjects). On NATS 2.10+
# the consumer receives only these (`AI_RESPONDER_REPLIES`); before, every conversation event,
# the others let by.
FOLLOWED: Final = frozenset(AI_RESPONDER_FOLLOWS)


def conversation_of(delivery: Delivery) -> str:
    """The conversation a followed event belongs to (its aggregate id: the subject does not
    carry it); the events not followed share one key, each acknowledged at once."""
    if _event_name(delivery.subject) not in FOLLOWED:
        return "not-followed"
    try:
        return session_event(delivery.data).aggregate_id
    except Exception:
        return f"undecodable:{delivery.stream_sequence}"


def _event_name(subject: str) -> str:
    return subject.rsplit(".", 1)[-1]


class FollowConversationEvents:
    """Per-event handler: the view and the bursts keep the event, then it is acknowledged."""

    def __init__(self, following: FollowConversations) -> None:
        self._following = following

    async def __call__(self, delivery: Delivery) -> Settlement:
        name = _event_name(delivery.subject)
        if name not in FOLLOWED:
            return ACK
        try:
            event = session_event(delivery.data)
        except Exception as error:
            return DeadLetter(f"cannot decode SessionEvent: {error!r}", slug="undecodable")
        with consuming(
            f"ai_responder.{name}",  # one of FOLLOWED's event types
            delivery.subject,
            delivery.headers,
            delivery_attempt=delivery.num_delivered,
            tracer=tracer,
        ):
            try:
                await self._follow(event, delivery)
            except (NatsTimeoutError, MediaStoreUnavailable) as error:
                # The view and the bursts live in NATS, voice notes in the media store: either
                # not answering is it being out of reach, not this event failing; the batch
                # waits for it.
                raise Unavailable(describe(error)) from error
        return ACK

    async def _follow(self, event: SessionEvent, delivery: Delivery) -> None:
        body = event.WhichOneof("body")
        conversation_id = event.aggregate_id
        if body == "conversation_started":
            started = event.conversation_started
            await self._following.started(
                conversation_id,
                contact_id=started.contact_id,
                business_number=started.phone_number_id,
                customer_name=started.customer.profile_name,
                started_at=event.occurred_at.ToDatetime(tzinfo=UTC),
            )
        elif body == "customer_message_received":
            await self._following.customer_wrote(
                customer_message(event),
                position=event.position,
                wamid=event.customer_message_received.wamid,
                stored_at=delivery.stored_at,
            )
        elif body == "outbound_message_queued":
            queued = event.outbound_message_queued
            await self._following.business_wrote(
                conversation_id,
                message_id=queued.message_id,
                text=outbound_text(queued.content),
                position=event.position,
            )
        elif body == "conversation_status_changed":
            await self._following.ai_paused(
                conversation_id,
                paused=event.conversation_status_changed.ai_paused,
                position=event.position,
            )
        elif body == "attachment_stored":
            stored = event.attachment_stored
            if stored.direction == "outbound":  # a file the business sent
                return
            await self._following.attached(
                conversation_id, stored.message_id, stored_attachment(stored)
            )
            if stored.media_type == "audio":
                await self._following.audio_kept(
                    conversation_id,
                    message_id=stored.message_id,
                    location=stored.location,
                    content_type=stored.content_type,
                    file_name=stored.file_name,
                )
        elif body == "attachment_failed":
            await self._following.attached(
                conversation_id,
                event.attachment_failed.message_id,
                failed_attachment(event.attachment_failed),
            )
            if event.attachment_failed.media_type == "audio":
                await self._following.heard(
                    conversation_id, event.attachment_failed.message_id, transcript=None
                )
        elif body == "transcript_recorded":
            recorded = event.transcript_recorded
            await self._following.heard(
                conversation_id, recorded.message_id, transcript=recorded.text
            )
        elif body == "transcript_missing":
            await self._following.heard(
                conversation_id, event.transcript_missing.message_id, transcript=None
            )
