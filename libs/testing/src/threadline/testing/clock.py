"""An injectable clock for tests that must not wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """Returns a fixed moment until told to advance."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
