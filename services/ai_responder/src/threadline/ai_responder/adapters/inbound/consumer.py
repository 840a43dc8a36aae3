"""Customer messages from SESSION_EVENTS in (durable `AI_RESPONDER_REPLIES`), answered."""

from __future__ import annotations

from opentelemetry import trace

from threadline.ai_responder.adapters.integration_events import customer_message, session_event
from threadline.ai_responder.application.responder import AnswerCustomerMessage
from threadline.messaging.consumer import ACK, DeadLetter, Delivery, Settlement
from threadline.servicekit.telemetry import context_from_headers

tracer = trace.get_tracer("threadline.ai_responder")
# Customer messages answered at once: each waits on the session (history) and the model.
CONCURRENCY = 16


def conversation_of(delivery: Delivery) -> str:
    """The conversation a delivery belongs to (its messages are answered in order); an
    undecodable one gets a key of its own, and the handler dead-letters it."""
    try:
        return session_event(delivery.data).aggregate_id
    except Exception:
        return f"undecodable:{delivery.stream_sequence}"


class DraftOnCustomerMessage:
    """Per-message handler: answer (draft, publish), and only then acknowledge."""

    def __init__(self, answer: AnswerCustomerMessage) -> None:
        self._answer = answer

    async def __call__(self, delivery: Delivery) -> Settlement:
        try:
            event = session_event(delivery.data)
        except Exception as error:
            return DeadLetter(f"cannot decode SessionEvent: {error!r}", slug="undecodable")
        parent = context_from_headers(delivery.headers)
        with tracer.start_as_current_span("ai_responder.draft", context=parent):
            await self._answer(customer_message(event))
        return ACK
