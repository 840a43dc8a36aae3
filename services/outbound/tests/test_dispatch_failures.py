"""What the dispatch consumer makes of an error raised while sending: a permanent one is
dead-lettered at once (retrying it could only fail the same way), anything else retried."""

from __future__ import annotations

import nats.errors
import pytest

from threadline.contracts.events.v1 import common_pb2, session_pb2
from threadline.messaging.bus import MessageTooLarge
from threadline.messaging.consumer import DeadLetter, Delivery, Retry
from threadline.outbound.adapters.inbound.consumer import DispatchHandler
from threadline.outbound.application.dispatcher import DispatchResult, MessageDispatcher
from threadline.outbound.domain.outbound_message import OutboundMessage


class Raising:
    """Stands in for the `MessageDispatcher`: every dispatch raises `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def dispatch(self, message: OutboundMessage, *, last_attempt: bool) -> DispatchResult:
        raise self.error


def queued() -> Delivery:
    event = session_pb2.SessionEvent(
        event_id="e-1",
        aggregate_type="Conversation",
        aggregate_id="c-1",
        outbound_message_queued=session_pb2.OutboundMessageQueued(
            message_id="m-1",
            author="ai",
            content=common_pb2.MessageContent(type="text", text="Hi!"),
            phone_number_id="106540352242922",
            recipient=common_pb2.CustomerIdentity(wa_id="16505551234"),
        ),
    )
    subject = "session.events.Conversation.OutboundMessageQueued"
    return Delivery(subject, event.SerializeToString(), {}, 1, 1)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (MessageTooLarge(2_000_000, 1_048_576), DeadLetter),
        (ValueError("a bug"), DeadLetter),
        (nats.errors.TimeoutError(), Retry),
        (nats.errors.ConnectionClosedError(), Retry),
    ],
    ids=lambda value: type(value).__name__,
)
async def test_an_error_while_sending_is_dead_lettered_or_retried_by_its_kind(
    error: Exception, outcome: type
) -> None:
    dispatcher: MessageDispatcher = Raising(error)  # type: ignore[assignment]
    handler = DispatchHandler(dispatcher, max_deliver=5)

    [result] = await handler([queued()])

    assert isinstance(result, outcome)
    if isinstance(result, DeadLetter):
        assert result.slug == "poison" and type(error).__name__ in result.reason
