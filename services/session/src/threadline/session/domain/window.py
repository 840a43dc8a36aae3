"""The 24-hour customer service window, opened and renewed only by a customer message."""

from __future__ import annotations

from datetime import datetime, timedelta

WINDOW = timedelta(hours=24)


def window_closes_at(last_inbound_at: datetime | None) -> datetime | None:
    return None if last_inbound_at is None else last_inbound_at + WINDOW


def window_is_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    closes = window_closes_at(last_inbound_at)
    return closes is not None and now < closes
