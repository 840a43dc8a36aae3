"""What became of one fact: the consumer adapter turns these into acks, retries, dead letters."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Applied:
    """Recorded (or already recorded: facts are idempotent)."""


@dataclass(frozen=True, slots=True)
class Ignored:
    """Deliberately not recorded, for a logged reason (e.g. a late status)."""

    reason: str


@dataclass(frozen=True, slots=True)
class NotYet:
    """Cannot be applied yet (e.g. a status ahead of its dispatch result): try again later."""

    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """The domain refused it for good (dead-lettered with the reason)."""

    reason: str
    slug: str = "rejected"


Outcome = Applied | Ignored | NotYet | Rejected
APPLIED = Applied()
