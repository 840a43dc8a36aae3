"""Conversation statuses: closed conversations stay closed, open ones move between each other."""

from __future__ import annotations

from threadline.rules.lifecycle import (
    ABANDONED,
    ACTIVE,
    CLOSED,
    COMPLETED,
    ESCALATED,
    STATUSES,
    TRANSITIONS,
)


def test_every_status_has_its_transitions_and_they_lead_to_known_statuses() -> None:
    assert set(TRANSITIONS) == STATUSES == {ACTIVE, ESCALATED, COMPLETED, ABANDONED}
    assert all(targets <= STATUSES for targets in TRANSITIONS.values())


def test_a_closed_conversation_goes_nowhere() -> None:
    assert {COMPLETED, ABANDONED} == CLOSED
    assert {status: TRANSITIONS[status] for status in CLOSED} == {
        COMPLETED: frozenset(),
        ABANDONED: frozenset(),
    }


def test_an_open_conversation_may_be_handed_off_resumed_or_closed() -> None:
    assert TRANSITIONS[ACTIVE] == {ESCALATED, COMPLETED, ABANDONED}
    assert TRANSITIONS[ESCALATED] == {ACTIVE, COMPLETED, ABANDONED}
    assert all(status not in TRANSITIONS[status] for status in STATUSES)
