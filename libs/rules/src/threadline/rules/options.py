"""What a customer can tap: one quick-reply button or list row, shared by the AI responder's
replies and the flow definitions the session checks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Option:
    """A quick-reply button or a list row: what the customer taps, and the id it comes back as."""

    id: str
    title: str
    description: str = ""  # list rows only
