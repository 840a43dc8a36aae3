"""Which open conversations are idle: the index auto-resolution keeps, followed from the
conversations' events.

The index only proposes: `Conversation.auto_resolve` decides on the aggregate itself, so a
stale entry costs a no-op, never a wrong resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from threadline.rules.lifecycle import CLOSED
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.lifecycle import idle

# The events that open, close or touch a conversation.
TRACKED: tuple[type[Any], ...] = (
    Conversation.Started,
    Conversation.CustomerMessageReceived,
    Conversation.CustomerMessageChanged,
    Conversation.OutboundMessageQueued,
    Conversation.StatusChanged,
    Conversation.AutoResolved,
)


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
    """Open conversations → their business number and last activity."""

    def __init__(self) -> None:
        self.open: dict[UUID, Activity] = {}

    def apply(self, event: Any) -> None:
        """Follow one of the `TRACKED` events."""
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
        """Conversations idle past their number's threshold at `now`."""
        return [
            cid
            for cid, entry in self.open.items()
            if idle(entry.last_activity_at, now, threshold(entry.phone_number_id))
        ]
