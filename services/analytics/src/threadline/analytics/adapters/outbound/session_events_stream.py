"""The SESSION_EVENTS stream read back by sequence: how the live projection fills a gap a
stopped consumer left (`StreamHistory`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from threadline.analytics.adapters.integration_events import delivered
from threadline.analytics.application.write.ports import Delivered
from threadline.messaging.consumer import Delivery

# The message at a stream sequence, as a delivery (None: no such message is kept).
MessageAt = Callable[[int], Awaitable[Delivery | None]]


def stream_reader(js: JetStreamContext, stream: str) -> MessageAt:
    """`MessageAt` over a JetStream stream."""

    async def read_at(sequence: int) -> Delivery | None:
        try:
            message = await js.get_msg(stream, seq=sequence)
        except NotFoundError:
            return None
        return Delivery(
            subject=message.subject or "",
            data=message.data or b"",
            headers={k: str(v) for k, v in (message.headers or {}).items()},
            stream_sequence=sequence,
            num_delivered=1,
        )

    return read_at


class SessionEventsHistory:
    """The `StreamHistory` of the live projection, over a `MessageAt`."""

    def __init__(self, read_at: MessageAt) -> None:
        self._read_at = read_at

    async def at(self, sequence: int) -> Delivered | None:
        found = await self._read_at(sequence)
        return None if found is None else delivered(found)
