"""The envelope every WhatsApp webhook arrives in: account, change, and a `value`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

DEFAULT_WABA_ID: Final = "100000000000001"


@dataclass(frozen=True, kw_only=True)
class BusinessNumber:
    """The business side of a webhook: its WhatsApp Business Account and phone number."""

    waba_id: str
    phone_number_id: str
    display_phone_number: str


def webhook_envelope(number: BusinessNumber, fields: Mapping[str, object]) -> dict[str, object]:
    """A `messages` webhook body for `number` whose value holds `fields` (statuses, messages…)."""
    value: dict[str, object] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": number.display_phone_number,
            "phone_number_id": number.phone_number_id,
        },
    }
    value.update(fields)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": number.waba_id, "changes": [{"value": value, "field": "messages"}]}],
    }
