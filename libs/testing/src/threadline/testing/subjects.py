"""NATS subject matching, for tests that compare what flows with what the topology declares."""

from __future__ import annotations

__all__ = ["filters_overlap", "subject_matches"]


def subject_matches(filter_subject: str, subject: str) -> bool:
    """Whether `subject` is matched by `filter_subject`, as NATS matches them: `*` is any one
    token, a final `>` one or more tokens."""
    wanted, tokens = filter_subject.split("."), subject.split(".")
    for index, part in enumerate(wanted):
        if part == ">" and index == len(wanted) - 1:
            return len(tokens) > index
        if index >= len(tokens) or (part != "*" and part != tokens[index]):
            return False
    return len(tokens) == len(wanted)


def filters_overlap(first: str, second: str) -> bool:
    """Whether some subject is matched by both filters."""
    a, b = first.split("."), second.split(".")
    for index in range(min(len(a), len(b))):
        if ">" in (a[index], b[index]):
            return True
        if "*" not in (a[index], b[index]) and a[index] != b[index]:
            return False
    return len(a) == len(b)
