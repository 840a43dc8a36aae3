"""What a query asks for, validated: filters, pages and windows of messages."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from threadline.analytics.errors import InvalidQuery

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
DEFAULT_MESSAGE_LIMIT = 100
MAX_MESSAGE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Paging:
    """A page of conversations; 0 (unset in the request) means the default."""

    page: int = 1
    size: int = DEFAULT_PAGE_SIZE

    @classmethod
    def of(cls, page: int, size: int) -> Paging:
        if page < 0:
            raise InvalidQuery(f"page must be 1 or more (0 means 1), got {page}")
        if not 0 <= size <= MAX_PAGE_SIZE:
            raise InvalidQuery(
                f"size must be between 1 and {MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE}),"
                f" got {size}"
            )
        return cls(page=page or 1, size=size or DEFAULT_PAGE_SIZE)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


@dataclass(frozen=True, slots=True)
class MessageWindow:
    """A slice of a conversation's messages, oldest first; limit 0 means the default."""

    limit: int = DEFAULT_MESSAGE_LIMIT
    offset: int = 0

    @classmethod
    def of(cls, limit: int, offset: int) -> MessageWindow:
        if not 0 <= limit <= MAX_MESSAGE_LIMIT:
            raise InvalidQuery(
                f"limit must be between 1 and {MAX_MESSAGE_LIMIT}"
                f" (0 means {DEFAULT_MESSAGE_LIMIT}), got {limit}"
            )
        if offset < 0:
            raise InvalidQuery(f"offset must be 0 or more, got {offset}")
        return cls(limit=limit or DEFAULT_MESSAGE_LIMIT, offset=offset)


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    """Conditions every listed conversation meets; empty ones do not filter."""

    lead_id: UUID | None = None
    status: str = ""
    channel: str = ""
    business_number: str = ""
    customer_phone: str = ""

    @classmethod
    def of(
        cls,
        *,
        lead_id: str = "",
        status: str = "",
        channel: str = "",
        business_number: str = "",
        customer_phone: str = "",
    ) -> ConversationFilter:
        return cls(
            lead_id=parse_id(lead_id, "lead_id") if lead_id else None,
            status=status.strip(),
            channel=channel.strip(),
            business_number=business_number.strip(),
            customer_phone=_wa_id(customer_phone),
        )

    def conditions(self) -> dict[str, object]:
        """The filters in use, by name."""
        named: dict[str, object] = {
            "lead_id": self.lead_id,
            "status": self.status,
            "channel": self.channel,
            "business_number": self.business_number,
            "customer_phone": self.customer_phone,
        }
        return {name: value for name, value in named.items() if value}


def parse_id(text: str, argument: str) -> UUID:
    """A conversation or contact id as the caller wrote it."""
    try:
        return UUID(text.strip())
    except ValueError:
        raise InvalidQuery(f"{argument} must be a UUID, got {text!r}") from None


def _wa_id(phone: str) -> str:
    """A phone number as WhatsApp writes a `wa_id`: digits only, country code first."""
    if not phone.strip():
        return ""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if not digits:
        raise InvalidQuery(f"customer_phone must contain digits, got {phone!r}")
    return digits
