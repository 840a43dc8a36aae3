"""A read receipt with the typing indicator, asked for while the assistant writes a reply.

WhatsApp shows the indicator for up to 25 seconds, or until the reply arrives: a request older
than that when outbound gets to it (a backlog after a restart, a retry after a Graph API
outage) would show "typing…" for a reply that is already there or long overdue, so it is not
sent at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

SHOWN_FOR = timedelta(seconds=25)  # how long WhatsApp shows the indicator


@dataclass(frozen=True, slots=True)
class TypingIndicatorRequest:
    """Show the customer's message `wamid` as read, and "typing…" in their chat."""

    request_id: str
    conversation_id: str
    phone_number_id: str  # the business number the customer wrote to
    wamid: str  # the customer's message
    requested_at: datetime

    def age(self, now: datetime) -> timedelta:
        return now - self.requested_at

    def is_stale(self, now: datetime) -> bool:
        """Whether WhatsApp would already have stopped showing it."""
        return self.age(now) > SHOWN_FOR
