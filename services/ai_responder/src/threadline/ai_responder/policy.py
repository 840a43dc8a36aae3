"""Whether the assistant should answer a customer message at all."""

from __future__ import annotations

from datetime import datetime, timedelta


def is_stale(sent_at: datetime, now: datetime, *, stale_after: timedelta) -> bool:
    """A message redelivered by Meta days after an outage is not answered automatically."""
    return now - sent_at > stale_after
