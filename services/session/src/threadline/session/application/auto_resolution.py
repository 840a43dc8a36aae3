"""Closing conversations that have been idle past their business number's threshold.

The resolver keeps an `ActivityIndex` of open conversations (domain/activity.py), built from
the event store's notification log (filtered to the few event types that matter) at start and
followed from there; what the index proposes, `Conversations.auto_resolve` checks on the
aggregate itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from threadline.session.application.conversations import Conversations
from threadline.session.application.ports import Writer
from threadline.session.domain.activity import TRACKED, ActivityIndex

log = logging.getLogger(__name__)
PAGE = 1000


class AutoResolver:
    """Periodically resolves idle conversations through the writer."""

    def __init__(self, app: Conversations, writer: Writer, *, interval: float = 60.0) -> None:
        self._app, self._writer = app, writer
        self.index = ActivityIndex()
        self.position = 0  # of the last stored event the index followed
        self._interval = interval
        self._stopping = asyncio.Event()

    def catch_up(self) -> int:
        """Follow what was stored since the last call (blocking I/O); returns how many."""
        seen = 0
        while True:
            page = self._app.stored_events(self.position, PAGE, types=TRACKED)
            for position, event in page:
                self.index.apply(event)
                self.position = position
            seen += len(page)
            if len(page) < PAGE:
                return seen

    async def run_once(self) -> int:
        """Catch up with the log and resolve what is due; returns how many were resolved."""
        await asyncio.to_thread(self.catch_up)
        hours: dict[str, timedelta] = {}

        def threshold(number: str) -> timedelta:
            if number not in hours:
                hours[number] = timedelta(hours=self._app.auto_resolve_hours(number))
            return hours[number]

        # Thresholds are read on the writer thread (it changes cached aggregates in place).
        due = await self._writer.run(self.index.idle, self._app.clock(), threshold)
        resolved = 0
        for conversation_id in due:
            if await self._writer.run(self._app.auto_resolve, conversation_id):
                resolved += 1
        if resolved:
            log.info("auto-resolved %d idle conversations", resolved)
        return resolved

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("auto-resolution failed; trying again at the next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    def stop(self) -> None:
        self._stopping.set()
