"""The customer service window as analytics reports it, from the rule the session enforces
(`threadline.rules.window.CustomerServiceWindow`: one rule, one place)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from threadline.rules.window import CustomerServiceWindow


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
    """The window of the customer's latest conversation at `now`, as the session judges a
    send: a closed (completed or abandoned) conversation's window counts as closed, and
    remaining minutes are whole minutes, rounded down."""
    window = CustomerServiceWindow.of(
        last_inbound_at=last_inbound_at,
        free_entry_until=free_entry_until,
        conversation_status=conversation_status,
    )
    return Window(
        active=window.is_open(now),
        expires_at=window.closes_at,
        remaining_minutes=window.remaining_minutes(now),
    )
