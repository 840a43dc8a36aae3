"""The replies customers receive at the sandbox, followed as they arrive: one task reads what
is new in the outbox (`Outbox.accepted_since`) and wakes the customers waiting for a reply.

Each waiting customer scanning the whole outbox (up to 10,000 kept messages) every few
milliseconds would make the benchmark's own process the bottleneck it then measures."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime

from threadline.sandbox.outbox import Outbox

POLL_SECONDS = 0.002


class ReplyFollower:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._seen = 0
        self.total = 0  # replies seen since the follower started
        self._replies: dict[str, list[datetime]] = defaultdict(list)
        self._changed: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def replies_to(self, wa_id: str) -> list[datetime]:
        """When each reply to `wa_id` was accepted, oldest first."""
        return self._replies[wa_id]

    async def next_reply(self, wa_id: str, seen: int, *, timeout: float = 120.0) -> datetime:
        """The moment of the reply after the first `seen` to `wa_id`, once it is there."""
        async with asyncio.timeout(timeout):
            while len(self._replies[wa_id]) <= seen:
                event = self._changed[wa_id]
                event.clear()
                await event.wait()
        return self._replies[wa_id][seen]

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ReplyFollower]:
        task = asyncio.create_task(self._follow())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self) -> None:
        while True:
            for message in self._outbox.accepted_since(self._seen):
                self._seen = message.sequence
                self.total += 1
                self._replies[message.to].append(message.accepted_at)
                self._changed[message.to].set()
            await asyncio.sleep(POLL_SECONDS)
