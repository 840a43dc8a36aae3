"""The one thread that writes to the event store, so that batches never race each other."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from uuid import UUID

from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import Fact, OutboundRequest
from threadline.session.application.outcomes import Outcome

T = TypeVar("T")


class EventStoreWriter:
    """Serialises every write of this process through one thread; wakes the relay after."""

    def __init__(self, app: Conversations, *, on_stored: Callable[[], None]) -> None:
        self._app = app
        self._on_stored = on_stored
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-store")

    async def record(self, facts: Sequence[Fact]) -> list[Outcome]:
        return await self._run(self._app.record_facts, list(facts))

    async def send(self, request: OutboundRequest) -> UUID:
        return await self._run(self._app.send_message, request)

    async def _run(self, work: Callable[..., T], *args: object) -> T:
        result = await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
        self._on_stored()
        return result

    def close(self) -> None:
        self._executor.shutdown(wait=True)
