"""Errors of the conversation domain, mapped to gRPC statuses at the boundary."""

from __future__ import annotations

from datetime import datetime


class DomainError(Exception):
    """A command the domain refuses, with a reason a person can act on."""


class ConversationNotFound(DomainError):
    def __init__(self, conversation_id: object) -> None:
        super().__init__(f"conversation {conversation_id} was not found")


class WindowClosed(DomainError):
    def __init__(self, closed_at: datetime | None) -> None:
        when = f"closed at {closed_at.isoformat()}" if closed_at else "was never opened"
        super().__init__(
            f"the 24-hour customer service window {when}; only an approved template may be sent"
        )


class InvalidMessage(DomainError):
    """An outbound message that is not well formed (empty text, unknown type, ...)."""
