"""Conversation status: active, escalated (a human answers), completed, abandoned."""

from __future__ import annotations

from threadline.servicekit.errors import quoted
from threadline.session.domain.errors import InvalidTransition

ACTIVE = "active"
ESCALATED = "escalated"
COMPLETED = "completed"
ABANDONED = "abandoned"
STATUSES = frozenset({ACTIVE, ESCALATED, COMPLETED, ABANDONED})
CLOSED = frozenset({COMPLETED, ABANDONED})

# Closed conversations stay closed: the customer's next message opens a new one.
TRANSITIONS: dict[str, frozenset[str]] = {
    ACTIVE: frozenset({ESCALATED, COMPLETED, ABANDONED}),
    ESCALATED: frozenset({ACTIVE, COMPLETED, ABANDONED}),
    COMPLETED: frozenset(),
    ABANDONED: frozenset(),
}


def check_transition(current: str, target: str) -> None:
    if target not in STATUSES:
        raise InvalidTransition(f"unknown status {quoted(target)}; one of {sorted(STATUSES)}")
    if target not in TRANSITIONS[current]:
        allowed = sorted(TRANSITIONS[current]) or "nothing (it is closed)"
        raise InvalidTransition(
            f"a {current} conversation cannot become {target}; it can become {allowed}"
        )


def resolution_status(*, unfinished_flow: bool) -> str:
    """What an idle conversation becomes when it is resolved automatically."""
    return ABANDONED if unfinished_flow else COMPLETED
