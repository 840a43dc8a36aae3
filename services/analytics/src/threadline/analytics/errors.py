"""What a query can be refused for, in the read models' terms."""

from __future__ import annotations


class ConversationNotFound(LookupError):
    """No conversation with this id that the caller may see."""

    def __init__(self, conversation_id: object) -> None:
        super().__init__(f"conversation {conversation_id} not found")


class InvalidQuery(ValueError):
    """A query argument out of range or malformed; the message names the argument."""
