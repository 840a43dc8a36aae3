"""The customer service window: when a free-form message may still be sent to a customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from threadline.servicekit.clock import later

WINDOW = timedelta(hours=24)
CLOSED_STATUSES = frozenset({"completed", "abandoned"})


@dataclass(frozen=True, slots=True)
class Window:
    active: bool
    expires_at: datetime | None
    remaining_minutes: int


def customer_window(
    *,
    last_inbound_at: datetime | None,
    free_entry_until: datetime | None,
    conversation_status: str,
    now: datetime,
) -> Window:
    """The window of the customer's latest conversation, as the session judges a send.

    It closes 24 hours after the customer's latest message, or 72 hours after a free-entry
    (ad referral) message when that is later. A completed or abandoned conversation takes no
    more messages (the session opens a new one, whose window only the customer can open), so
    its window counts as closed. Remaining minutes are whole minutes, rounded down.
    """
    ends = [t for t in (last_inbound_at and later(last_inbound_at, WINDOW), free_entry_until) if t]
    expires_at = max(ends) if ends else None
    if expires_at is None or now >= expires_at or conversation_status in CLOSED_STATUSES:
        return Window(active=False, expires_at=expires_at, remaining_minutes=0)
    return Window(
        active=True,
        expires_at=expires_at,
        remaining_minutes=int((expires_at - now).total_seconds() // 60),
    )
