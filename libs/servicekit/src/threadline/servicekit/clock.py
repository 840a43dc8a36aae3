"""The clock services read, injectable so tests can run time forward."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, in UTC (timezone-aware)."""
    return datetime.now(UTC)
