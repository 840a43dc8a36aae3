"""The 24-hour customer service window, opened and renewed only by a customer message.

Times come from outside (WhatsApp's timestamps): arithmetic on them saturates at the latest
moment a `datetime` can hold instead of overflowing, so a time near year 9999 (ingest clamps
such times, this is defence in depth) closes no window and fails no command.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from threadline.servicekit.clock import later

__all__ = ["WINDOW", "later", "window_closes_at", "window_is_open"]

WINDOW = timedelta(hours=24)


def window_closes_at(last_inbound_at: datetime | None) -> datetime | None:
    return None if last_inbound_at is None else later(last_inbound_at, WINDOW)


def window_is_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    closes = window_closes_at(last_inbound_at)
    return closes is not None and now < closes
