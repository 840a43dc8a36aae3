"""WhatsApp's customer service window: when a free-form message may still be sent.

The window opens (and is renewed) only by a customer message and closes 24 hours after the
customer's latest one, or 72 hours after a message that came through a free entry point (an ad
referral) when that is later. A closed conversation (completed or abandoned) takes no more
messages: the session opens a new one, whose window only the customer can open.

Times come from outside (WhatsApp's timestamps): arithmetic on them saturates at the latest
moment a `datetime` can hold instead of overflowing (`later`), so a time near year 9999 closes
no window and fails no command. The session enforces this rule; analytics reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from threadline.rules.lifecycle import CLOSED
from threadline.servicekit.clock import later

__all__ = ["FREE_ENTRY_WINDOW", "WINDOW", "CustomerServiceWindow", "later"]

WINDOW = timedelta(hours=24)
FREE_ENTRY_WINDOW = timedelta(hours=72)


@dataclass(frozen=True, slots=True)
class CustomerServiceWindow:
    """The window of one conversation, from the facts that decide it."""

    last_inbound_at: datetime | None = None
    free_entry_until: datetime | None = None
    closed: bool = False

    @classmethod
    def of(
        cls,
        *,
        last_inbound_at: datetime | None,
        free_entry_until: datetime | None = None,
        conversation_status: str = "",
    ) -> CustomerServiceWindow:
        return cls(last_inbound_at, free_entry_until, conversation_status in CLOSED)

    @staticmethod
    def free_entry_closes_at(message_at: datetime) -> datetime:
        """When the window a free-entry message opens closes."""
        return later(message_at, FREE_ENTRY_WINDOW)

    @property
    def closes_at(self) -> datetime | None:
        """When the window closes (or closed); None when no customer message ever opened it."""
        regular = None if self.last_inbound_at is None else later(self.last_inbound_at, WINDOW)
        candidates = [t for t in (regular, self.free_entry_until) if t is not None]
        return max(candidates) if candidates else None

    def is_open(self, now: datetime) -> bool:
        """Whether a free-form message may be sent at `now`."""
        closes = self.closes_at
        return not self.closed and closes is not None and now < closes

    def remaining_minutes(self, now: datetime) -> int:
        """Whole minutes left (rounded down); 0 when the window is not open."""
        closes = self.closes_at
        if closes is None or not self.is_open(now):
            return 0
        return int((closes - now).total_seconds() // 60)
