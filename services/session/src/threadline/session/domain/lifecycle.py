"""The conversation's lifecycle rules, on the statuses shared with analytics
(`threadline.rules.lifecycle`): which moves are allowed, and what an idle one becomes."""

from __future__ import annotations

from datetime import datetime, timedelta

from threadline.rules.lifecycle import ABANDONED, COMPLETED, STATUSES, TRANSITIONS
from threadline.servicekit.errors import quoted
from threadline.session.domain.errors import InvalidTransition


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


def idle(last_activity_at: datetime, now: datetime, after: timedelta) -> bool:
    """Whether a conversation last active at `last_activity_at` is idle `after` that long."""
    return now - last_activity_at >= after
