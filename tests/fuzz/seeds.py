"""Webhook bodies in the shapes WhatsApp's Cloud API documents: the seeds the fuzzer mutates.

Written here from Meta's documentation (messages of every kind, statuses with pricing and
errors, webhook errors, and fields other than `messages`); the project's webhook samples
(`threadline.testing.samples`) are further seeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from threadline.testing.samples import webhook_samples

Json = dict[str, Any]
WABA_ID = "100000000000009"
DISPLAY_NUMBER = "15550001234"


def envelope(phone_number_id: str, value: Json, *, field: str = "messages") -> Json:
    """The envelope every webhook arrives in: one entry, one change."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": DISPLAY_NUMBER,
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                        "field": field,
                    }
                ],
            }
        ],
    }


def contact(wa_id: str, name: str = "Ana Souza") -> Json:
    return {"profile": {"name": name}, "wa_id": wa_id, "user_id": f"US.{wa_id}7"}


def _media(kind: str, **extra: object) -> Json:
    return {
        "type": kind,
        kind: {"id": "1234567890123456", "mime_type": "image/jpeg", "sha256": "abc=", **extra},
    }


# What goes beside from/id/timestamp in a message of each documented kind.
MESSAGE_KINDS: dict[str, Callable[[], Json]] = {
    "text": lambda: {"type": "text", "text": {"body": "Hello! Do you deliver on Saturdays?"}},
    "image": lambda: _media("image", caption="the broken part"),
    "video": lambda: _media("video", caption="look"),
    "audio": lambda: _media("audio", voice=True),
    "sticker": lambda: _media("sticker", animated=False),
    "document": lambda: _media("document", caption="invoice", filename="invoice.pdf"),
    "location": lambda: {
        "type": "location",
        "location": {
            "latitude": -23.5505,
            "longitude": -46.6333,
            "name": "Sé",
            "address": "Praça da Sé, São Paulo",
            "url": "https://example.com",
        },
    },
    "contacts": lambda: {
        "type": "contacts",
        "contacts": [
            {
                "name": {"formatted_name": "Rui Costa", "first_name": "Rui"},
                "phones": [{"phone": "+351 912 345 678", "type": "CELL", "wa_id": "351912345678"}],
                "emails": [{"email": "rui@example.com", "type": "WORK"}],
            }
        ],
    },
    "button": lambda: {"type": "button", "button": {"text": "Yes", "payload": "CONFIRM_YES"}},
    "button_reply": lambda: {
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}},
    },
    "list_reply": lambda: {
        "type": "interactive",
        "interactive": {
            "type": "list_reply",
            "list_reply": {"id": "row-1", "title": "Saturday", "description": "9 to 12"},
        },
    },
    "flow_reply": lambda: {
        "type": "interactive",
        "interactive": {
            "type": "nfm_reply",
            "nfm_reply": {"name": "flow", "body": "Sent", "response_json": '{"flow_token":"t"}'},
        },
    },
    "order": lambda: {
        "type": "order",
        "order": {
            "catalog_id": "354160437058781",
            "text": "",
            "product_items": [
                {
                    "product_retailer_id": "SKU-1",
                    "quantity": 2,
                    "item_price": 9.5,
                    "currency": "EUR",
                }
            ],
        },
    },
    "reaction": lambda: {
        "type": "reaction",
        "reaction": {"message_id": "wamid.OLD", "emoji": "👍"},
    },
    "unsupported": lambda: {
        "type": "unsupported",
        "errors": [
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ],
    },
    "system": lambda: {
        "type": "system",
        "system": {
            "body": "User changed number",
            "wa_id": "5511999990000",
            "type": "user_changed_number",
        },
    },
}
# The kinds that become a customer message of their own (reactions change another message).
STORED_KINDS = (
    "text",
    "image",
    "video",
    "audio",
    "sticker",
    "document",
    "location",
    "contacts",
    "button",
    "button_reply",
    "list_reply",
    "order",
)


def message(kind: str, *, wa_id: str, wamid: str, timestamp: int | None = None) -> Json:
    return {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(int(time.time()) if timestamp is None else timestamp),
        **MESSAGE_KINDS[kind](),
    }


def status(state: str, *, wamid: str, wa_id: str, timestamp: int | None = None) -> Json:
    found: Json = {
        "id": wamid,
        "status": state,
        "timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "recipient_id": wa_id,
        "conversation": {"id": "c0ffee", "origin": {"type": "service"}},
        "pricing": {
            "billable": True,
            "pricing_model": "PMP",
            "category": "service",
            "type": "regular",
        },
    }
    if state == "failed":
        found["errors"] = [
            {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "More than 24 hours have passed."},
            }
        ]
    return found


def documented(phone_number_id: str, wa_id: str, wamid: str) -> list[Json]:
    """One body of every documented shape, for `wa_id` writing to `phone_number_id`."""
    bodies = [
        envelope(
            phone_number_id,
            {"contacts": [contact(wa_id)], "messages": [message(k, wa_id=wa_id, wamid=wamid)]},
        )
        for k in MESSAGE_KINDS
    ]
    referral = message("text", wa_id=wa_id, wamid=wamid)
    referral["referral"] = {
        "source_url": "https://fb.me/ad",
        "source_id": "120200000000000",
        "source_type": "ad",
        "headline": "Free delivery",
        "body": "This week only",
        "media_type": "image",
        "image_url": "https://example.com/a.jpg",
        "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0",
    }
    reply = message("text", wa_id=wa_id, wamid=wamid)
    reply["context"] = {"from": DISPLAY_NUMBER, "id": "wamid.EARLIER", "forwarded": True}
    edit = {
        "from": wa_id,
        "id": wamid + ".edit",
        "timestamp": str(int(time.time())),
        "type": "edit",
        "edit": {"original_message_id": wamid, "message": MESSAGE_KINDS["text"]()},
    }
    revoke = {
        "from": wa_id,
        "id": wamid + ".revoke",
        "timestamp": str(int(time.time())),
        "type": "revoke",
        "revoke": {"original_message_id": wamid},
    }
    for extra in (referral, reply, edit, revoke):
        bodies.append(
            envelope(phone_number_id, {"contacts": [contact(wa_id)], "messages": [extra]})
        )
    for state in ("sent", "delivered", "read", "played", "failed"):
        bodies.append(
            envelope(phone_number_id, {"statuses": [status(state, wamid=wamid, wa_id=wa_id)]})
        )
    bodies.append(
        envelope(
            phone_number_id,
            {
                "errors": [
                    {
                        "code": 130429,
                        "title": "Rate limit hit",
                        "message": "Rate limit hit",
                        "error_data": {"details": "Cloud API message throughput has been reached."},
                    }
                ]
            },
        )
    )
    bodies.append(
        envelope(
            phone_number_id,
            {"event": "VERIFIED_ACCOUNT", "phone_number": DISPLAY_NUMBER},
            field="account_update",
        )
    )
    bodies.append(
        envelope(
            phone_number_id,
            {"event": "APPROVED", "message_template_id": 12345, "message_template_name": "x"},
            field="message_template_status_update",
        )
    )
    return bodies + [body for _, body in webhook_samples()]
