"""What a query asks for, validated: filters, pages and windows of messages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from threadline.analytics.domain.read.errors import InvalidQuery
from threadline.servicekit.errors import quoted

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
DEFAULT_MESSAGE_LIMIT = 100
MAX_MESSAGE_LIMIT = 500
# The kinds of media WhatsApp carries, as attachments name them.
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
# A phone number as people write it: digits, maybe a leading + and separators.
_PHONE = re.compile(r"\+?[\d\s().-]*\d[\d\s().-]*")


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
    """Conditions every listed conversation meets; empty ones do not filter.

    Date ranges are inclusive `from`, exclusive `to`; either end may be open.
    """

    lead_id: UUID | None = None
    status: str = ""
    channel: str = ""
    business_number: str = ""
    customer_phone: str = ""
    assistant: str = ""
    created_from: datetime | None = None
    created_to: datetime | None = None
    last_message_from: datetime | None = None
    last_message_to: datetime | None = None

    @classmethod
    def of(
        cls,
        *,
        lead_id: str = "",
        status: str = "",
        channel: str = "",
        business_number: str = "",
        customer_phone: str = "",
        assistant: str = "",
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        last_message_from: datetime | None = None,
        last_message_to: datetime | None = None,
    ) -> ConversationFilter:
        _check_range("created", created_from, created_to)
        _check_range("last_message", last_message_from, last_message_to)
        return cls(
            lead_id=parse_id(lead_id, "lead_id") if lead_id else None,
            status=status.strip(),
            channel=channel.strip(),
            business_number=business_number.strip(),
            customer_phone=_wa_id(customer_phone),
            assistant=assistant.strip(),
            created_from=created_from,
            created_to=created_to,
            last_message_from=last_message_from,
            last_message_to=last_message_to,
        )

    def conditions(self) -> dict[str, object]:
        """The filters in use, by name (the names `filter_sql.CONDITIONS` knows)."""
        named: dict[str, object] = {
            "lead_id": self.lead_id,
            "status": self.status,
            "channel": self.channel,
            "business_number": self.business_number,
            "customer_phone": self.customer_phone,
            "assistant": self.assistant,
            "created_from": self.created_from,
            "created_to": self.created_to,
            "last_message_from": self.last_message_from,
            "last_message_to": self.last_message_to,
        }
        return {name: value for name, value in named.items() if value}


def _check_range(name: str, start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and start >= end:
        raise InvalidQuery(
            f"{name}_from must be before {name}_to (from is inclusive, to exclusive),"
            f" got {start.isoformat()} and {end.isoformat()}"
        )


def parse_id(text: str, argument: str) -> UUID:
    """A conversation or contact id as the caller wrote it."""
    try:
        return UUID(text.strip())
    except ValueError:
        raise InvalidQuery(f"{argument} must be a UUID, got {quoted(text)}") from None


def _wa_id(phone: str) -> str:
    """A phone number as WhatsApp writes a `wa_id`: digits only, country code first."""
    if not phone.strip():
        return ""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if not digits:
        raise InvalidQuery(f"customer_phone must contain digits, got {quoted(phone)}")
    return digits


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """A customer of a business number, by phone (`wa_id`) or business-scoped user id."""

    business_number: str
    wa_id: str = ""
    user_id: str = ""

    @classmethod
    def of(cls, business_number: str, customer: str) -> CustomerRef:
        number, text = business_number.strip(), customer.strip()
        if not number:
            raise InvalidQuery("business_number is required (the phone_number_id)")
        if not text:
            raise InvalidQuery("customer is required (a wa_id or a business-scoped user id)")
        if _PHONE.fullmatch(text):
            return cls(number, wa_id=_wa_id(text))
        return cls(number, user_id=text)

    @property
    def key(self) -> str:
        """The key the session claims this id under (`wa:<wa_id>` or `bsuid:<user_id>`)."""
        return f"wa:{self.wa_id}" if self.wa_id else f"bsuid:{self.user_id}"


def media_type_of(text: str) -> str:
    """An attachments filter by kind of media; "" lists them all."""
    media_type = text.strip().lower()
    if media_type and media_type not in MEDIA_TYPES:
        raise InvalidQuery(
            f"media_type must be one of {', '.join(MEDIA_TYPES)} (or empty for all),"
            f" got {quoted(text)}"
        )
    return media_type
