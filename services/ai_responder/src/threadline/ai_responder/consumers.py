"""Customer messages from SESSION_EVENTS in, drafted replies on AI_EVENTS out."""

from __future__ import annotations

import logging

from opentelemetry import trace

from threadline.ai_responder.application import Responder
from threadline.contracts.events.v1 import session_pb2 as session_events
from threadline.messaging.bus import EventBus
from threadline.messaging.consumer import ACK, DeadLetter, Delivery, Settlement
from threadline.messaging.topology import Topology
from threadline.servicekit.telemetry import context_from_headers

log = logging.getLogger(__name__)
tracer = trace.get_tracer("threadline.ai_responder")
DURABLE = "ai_responder-replies"


class DraftOnCustomerMessage:
    """Per-message handler: draft, publish, and only then acknowledge."""

    def __init__(self, responder: Responder, bus: EventBus, topology: Topology) -> None:
        self._responder, self._bus, self._topology = responder, bus, topology

    async def __call__(self, delivery: Delivery) -> Settlement:
        try:
            event = session_events.SessionEvent.FromString(delivery.data)
        except Exception as error:
            return DeadLetter(f"cannot decode SessionEvent: {error!r}", slug="undecodable")
        parent = context_from_headers(delivery.headers)
        with tracer.start_as_current_span("ai_responder.draft", context=parent):
            draft = self._responder.draft(event)
            if draft is None:
                log.info(
                    "not answering stale message %s", event.customer_message_received.message_id
                )
                return ACK
            await self._bus.publish(
                self._topology.subject("ai_responder.events", "Conversation", "ReplyDrafted"),
                draft,
                msg_id=draft.draft_id,
            )
            # After the reply, so the session queues the reply before it hands off.
            if (hand_off := self._responder.hand_off(event)) is not None:
                await self._bus.publish(
                    self._topology.subject(
                        "ai_responder.events", "Conversation", "HandOffRequested"
                    ),
                    hand_off,
                    msg_id=hand_off.request_id,
                )
        return ACK
