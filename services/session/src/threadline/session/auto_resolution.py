"""Closing conversations that have been idle past their business number's threshold.

The resolver keeps an index of open conversations and their last activity, built from the
event store's notification log (filtered to the few event types that matter) at start and
followed from there. The index only proposes: `Conversations.auto_resolve` checks the
aggregate itself, so a stale entry costs a no-op, never a wrong resolution.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from threadline.session.application.conversations import Conversations
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.lifecycle import CLOSED
from threadline.session.writer import EventStoreWriter

log = logging.getLogger(__name__)
PAGE = 1000


@dataclass
class Activity:
    phone_number_id: str
    last_activity_at: datetime


def _moment(event: Any) -> datetime:
    for name in ("sent_at", "queued_at"):
        if (value := getattr(event, name, None)) is not None:
            return value  # type: ignore[no-any-return]
    return event.timestamp  # type: ignore[no-any-return]


class ActivityIndex:
    """Open conversations → number and last activity, from stored events."""

    TRACKED = (
        "Started",
        "CustomerMessageReceived",
        "CustomerMessageChanged",
        "OutboundMessageQueued",
        "StatusChanged",
        "AutoResolved",
    )

    def __init__(self, app: Conversations) -> None:
        self._app = app
        self._topics = [get_topic(getattr(Conversation, name)) for name in self.TRACKED]
        self.position = 0
        self.open: dict[UUID, Activity] = {}

    def catch_up(self) -> int:
        """Read what was stored since the last call (blocking I/O); returns how many."""
        seen = 0
        while True:
            page = self._app.recorder.select_notifications(
                self.position, PAGE, topics=self._topics, inclusive_of_start=False
            )
            for notification in page:
                self._apply(self._app.mapper.to_domain_event(notification))
                self.position = notification.id
            seen += len(page)
            if len(page) < PAGE:
                return seen

    def _apply(self, event: Any) -> None:
        name = type(event).__qualname__.rsplit(".", 1)[-1]
        conversation_id = event.originator_id
        if name == "Started":
            self.open[conversation_id] = Activity(event.phone_number_id, event.timestamp)
        elif name in ("StatusChanged", "AutoResolved"):
            if event.status in CLOSED:
                self.open.pop(conversation_id, None)
        elif (entry := self.open.get(conversation_id)) is not None:
            entry.last_activity_at = max(entry.last_activity_at, _moment(event))

    def idle(self, now: datetime, threshold: Callable[[str], timedelta]) -> list[UUID]:
        return [
            cid
            for cid, entry in self.open.items()
            if now - entry.last_activity_at >= threshold(entry.phone_number_id)
        ]


class AutoResolver:
    """Periodically resolves idle conversations through the event store's writer."""

    def __init__(self, writer: EventStoreWriter, *, interval: float = 60.0) -> None:
        self._writer, self._app = writer, writer.app
        self.index = ActivityIndex(writer.app)
        self._interval = interval
        self._stopping = asyncio.Event()

    async def run_once(self) -> int:
        """Catch up with the log and resolve what is due; returns how many were resolved."""
        await asyncio.to_thread(self.index.catch_up)
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
