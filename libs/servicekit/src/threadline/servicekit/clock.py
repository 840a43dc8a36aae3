"""The clock services read, injectable so tests can run time forward."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, in UTC (timezone-aware)."""
    return datetime.now(UTC)


def later(moment: datetime, span: timedelta) -> datetime:
    """`moment + span`, or the latest moment a datetime holds (in `moment`'s zone) beyond it.

    Times that come from outside (WhatsApp's timestamps) are clamped where they enter; this
    keeps arithmetic on them from raising `OverflowError` anywhere it is still done.
    """
    try:
        return moment + span
    except OverflowError:
        return datetime.max.replace(tzinfo=moment.tzinfo)
