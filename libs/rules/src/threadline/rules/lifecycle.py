"""Conversation statuses: active, escalated (a human answers), completed, abandoned.

Closed conversations stay closed: the customer's next message opens a new one.
"""

from __future__ import annotations

from collections.abc import Mapping

ACTIVE = "active"
ESCALATED = "escalated"
COMPLETED = "completed"
ABANDONED = "abandoned"
STATUSES = frozenset({ACTIVE, ESCALATED, COMPLETED, ABANDONED})
CLOSED = frozenset({COMPLETED, ABANDONED})

TRANSITIONS: Mapping[str, frozenset[str]] = {
    ACTIVE: frozenset({ESCALATED, COMPLETED, ABANDONED}),
    ESCALATED: frozenset({ACTIVE, COMPLETED, ABANDONED}),
    COMPLETED: frozenset(),
    ABANDONED: frozenset(),
}
