"""The one thread that writes to the event store, so that batches never race each other."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from threadline.session.adapters.outbound.event_store import ArrayInsertRecorder
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import Fact
from threadline.session.application.outcomes import Outcome

T = TypeVar("T")


class EventStoreWriter:
    """Serialises every write of this process through one thread; after each, tells
    `on_stored` the slots of the aggregates it wrote (None: not known, any may have been), so
    that the relays of their partitions look at once."""

    def __init__(self, app: Conversations, *, on_stored: Callable[[set[int] | None], None]) -> None:
        self.app = app
        self._on_stored = on_stored
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-store")

    async def record(self, facts: Sequence[Fact]) -> list[Outcome]:
        return await self.run(self.app.record_facts, list(facts))

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """Run one application command on the writer thread."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
        finally:
            recorder = self.app.recorder
            written = (
                recorder.take_written_slots() if isinstance(recorder, ArrayInsertRecorder) else None
            )
            self._on_stored(written)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
