"""What a query can be refused for, in the read models' terms."""

from __future__ import annotations

from threadline.servicekit.errors import quoted


class UnknownConversation(LookupError):
    """No conversation with this id that the caller may see."""

    def __init__(self, conversation_id: object) -> None:
        super().__init__(f"conversation {conversation_id} not found")


class UnknownAttachment(LookupError):
    """No kept file for this message in a conversation the caller may see: unknown, or its
    media failed, was refused or is not fetched yet (there is nothing to serve either way)."""

    def __init__(self, conversation_id: object, message_id: str) -> None:
        super().__init__(
            f"no stored attachment {quoted(message_id)} in conversation {conversation_id}"
        )


class InvalidQuery(ValueError):
    """A query argument out of range or malformed; the message names the argument."""


class UnknownCustomer(LookupError):
    """No customer by this id on a business number the caller may see."""

    def __init__(self, business_number: str, customer: str) -> None:
        super().__init__(
            f"no customer {quoted(customer)} on business number {quoted(business_number)}"
        )
