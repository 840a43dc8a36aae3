"""Errors of the conversation domain, mapped to gRPC statuses at the boundary."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


class DomainError(Exception):
    """A command the domain refuses, with a reason a person can act on."""


class ConversationNotFound(DomainError):
    def __init__(self, conversation_id: object) -> None:
        super().__init__(f"conversation {conversation_id} was not found")


class WindowClosed(DomainError):
    def __init__(self, closed_at: datetime | None, templates: Sequence[str] = ()) -> None:
        when = f"closed at {closed_at.isoformat()}" if closed_at else "was never opened"
        usable = ", ".join(templates) if templates else "none registered for this number"
        super().__init__(
            f"the 24-hour customer service window {when}; only an approved template may be "
            f"sent (templates: {usable})"
        )
        self.closed_at = closed_at
        self.templates = list(templates)


class InvalidMessage(DomainError):
    """An outbound message that is not well formed (empty text, unknown type, ...)."""


class QuoteUnavailable(DomainError):
    """A message to quote that WhatsApp has not named yet (queued, not sent, or failed): it has
    no wamid for `context.message_id` (FAILED_PRECONDITION: quote it once it is sent)."""

    def __init__(self, message_id: str, status: str) -> None:
        super().__init__(
            f"quoted_message_id {message_id} is {status or 'not sent'} and has no WhatsApp id "
            "yet; quote it once it is sent"
        )


class InvalidTransition(DomainError):
    """A status change the conversation's lifecycle does not allow."""


class InvalidConfiguration(DomainError):
    """A configuration (an assistant's) with a field out of its rule; the message names it."""


class NumberTaken(DomainError):
    """A business number another assistant already serves."""

    def __init__(self, phone_number_id: str, assistant: str) -> None:
        super().__init__(
            f"business number {phone_number_id} is served by assistant {assistant!r}; remove it"
            " there first (a number is served by at most one assistant)"
        )


class NumbersNotCovered(DomainError):
    """An assistant or flow change that touches business numbers the caller may not act on
    ("*": a flow on every number)."""

    def __init__(self, name: str, numbers: Sequence[str], *, what: str = "assistant") -> None:
        super().__init__(
            f"{what} {name!r}: this token is not scoped to number(s)"
            f" {', '.join(numbers[:3])}{' …' if len(numbers) > 3 else ''}"
        )
