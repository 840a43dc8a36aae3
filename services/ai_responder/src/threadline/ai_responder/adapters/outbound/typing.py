"""The typing indicator on AI_EVENTS: `TypingIndicatorRequested`, for outbound to show.

When the assistant starts writing a reply, the customer's message is shown read and "typing…"
appears in their chat (outbound calls the Graph API; the session records nothing of it). The
request id is the `Nats-Msg-Id`, so a redelivered message that asks again within the stream's
duplicate window asks once.
"""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from threadline.contracts.events.v1 import ai_pb2
from threadline.messaging.bus import EventBus
from threadline.messaging.topology import TYPING_INDICATOR_REQUESTED, Topology


class JetStreamTypingIndicator:
    """Asks outbound, over an `EventBus`, to show the typing indicator."""

    def __init__(self, bus: EventBus, topology: Topology) -> None:
        self._bus = bus
        self._topology = topology

    async def show_typing(
        self,
        *,
        request_id: str,
        conversation_id: str,
        phone_number_id: str,
        wamid: str,
        at: datetime,
    ) -> None:
        """Customer message `wamid`, written to `phone_number_id`, is being answered (`at`)."""
        requested_at = Timestamp()
        requested_at.FromDatetime(at)
        event = ai_pb2.TypingIndicatorRequested(
            request_id=request_id,
            conversation_id=conversation_id,
            phone_number_id=phone_number_id,
            wamid=wamid,
            requested_at=requested_at,
        )
        subject = self._topology.conversation_subject(TYPING_INDICATOR_REQUESTED, conversation_id)
        await self._bus.publish(subject, event, msg_id=request_id)
