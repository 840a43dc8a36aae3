"""When a webhook was received, and the window of times its facts may carry.

Meta retries a webhook for days, and a sender's clock may be wrong: a time more than
`MAX_FUTURE` after the webhook was received is the time received (it cannot be later), one more
than `MAX_AGE` before it is that earliest time (the message is at least that old) — each change
noted as a problem of the fact (`bounds.py` says why these numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from threadline.ingest.domain.bounds import MAX_AGE, MAX_FUTURE
from threadline.ingest.domain.sanitize import Problems


@dataclass(frozen=True, slots=True)
class Receipt:
    """The moment a webhook was received."""

    at: datetime

    def time(self, seconds: int, where: str, name: str, problems: Problems) -> datetime:
        """Unix `seconds` as a moment, clamped into the window around the time received."""
        received = self.at.timestamp()
        if seconds > received + MAX_FUTURE.total_seconds():
            problems.add(
                f"{where} {seconds} is more than {_duration(MAX_FUTURE)} after the webhook was "
                f"received ({_iso(self.at)}); {name} is the time received"
            )
            return self.at
        if seconds < received - MAX_AGE.total_seconds():
            earliest = self.at - MAX_AGE
            problems.add(
                f"{where} {seconds} is more than {_duration(MAX_AGE)} before the webhook was "
                f"received ({_iso(self.at)}); {name} is {_iso(earliest)}"
            )
            return earliest
        return datetime.fromtimestamp(seconds, UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _duration(span: timedelta) -> str:
    return f"{span.days} days" if span.days else f"{round(span.total_seconds() / 60)} minutes"
