"""The outbox relay: publishes the event store's notification log to NATS, in order.

The position last published is read back from the stream itself (the `Threadline-Position`
header of its last message), so nothing stored is left unpublished after a crash, and the
`Nats-Msg-Id` (the event id) makes a re-publish after a crash a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from threadline.messaging.bus import EventBus

log = logging.getLogger(__name__)

POSITION = "Threadline-Position"


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    position: int
    subject: str
    payload: bytes
    msg_id: str
    headers: dict[str, str]


class NotificationSource(Protocol):
    def read_after(self, position: int, limit: int) -> Sequence[OutboxRecord]:
        """Records with a position greater than `position`, in order (blocking I/O)."""
        ...


async def last_published_position(js: JetStreamContext, stream: str) -> int:
    info = await js.stream_info(stream)
    if not info.state.last_seq:
        return 0
    try:
        message = await js.get_msg(stream, seq=info.state.last_seq)
    except NotFoundError:
        return 0
    return int((message.headers or {}).get(POSITION, "0"))


@dataclass
class OutboxRelay:
    source: NotificationSource
    bus: EventBus
    js: JetStreamContext
    stream: str
    batch_size: int = 500
    idle_interval: float = 0.2
    position: int = 0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: bool = False

    def wake(self) -> None:
        """Something was stored: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        self.position = await last_published_position(self.js, self.stream)
        log.info("relay starts after position %d", self.position)
        while not self._stopping:
            try:
                published = await self.publish_pending()
            except Exception:
                log.exception("relay failed; retrying")
                published = 0
                await asyncio.sleep(1.0)
            if published == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_interval)

    async def publish_pending(self) -> int:
        records = await asyncio.to_thread(self.source.read_after, self.position, self.batch_size)
        if not records:
            return 0
        # The first publish runs alone (it sets up the reply subscription); the rest are sent
        # in order on one connection and their acks awaited together.
        await self._publish(records[0])
        await asyncio.gather(*(self._publish(r) for r in records[1:]))
        self.position = records[-1].position
        return len(records)

    async def _publish(self, record: OutboxRecord) -> None:
        headers = {**record.headers, POSITION: str(record.position)}
        await self.bus.publish(
            record.subject, record.payload, msg_id=record.msg_id, headers=headers
        )
