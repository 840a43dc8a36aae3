"""The Cloud API request bodies (`POST /{version}/{phone-number-id}/messages`): one message, and
a read receipt with the typing indicator.

A message's body is `{"messaging_product": "whatsapp", "recipient_type": "individual", "to":
<wa_id>, "type": <type>, <type>: <object>}`, as in the `sendMessage` examples of Meta's OpenAPI
description. A text message without its own object becomes `{"body": text, "preview_url":
false}`; every other type carries `payload_json` as its object (`contacts` is a list).

Recipient (the 2026 BSUID rule): `to` carries the phone-derived `wa_id` whenever it is known,
since Meta gives `to` precedence and recommends phone numbers so phone fields keep appearing in
webhooks. A customer known only by the business-scoped user id is addressed with
`"recipient": <user_id>` in place of `to` (Meta answers 131062 when a message type cannot go
to a BSUID, e.g. some authentication templates). We never send both: one address per request
keeps the request unambiguous.

A message that answers a specific earlier one (issue 11 item 8: the session put that message's
wamid in `quoted_wamid`) carries `"context": {"message_id": <wamid>}`, whatever its type, so
WhatsApp shows it quoted.

A rule of the domain, not of the HTTP adapter: whether a message can be sent at all is decided
here, before any call, and a message that cannot (`UnsendableMessage`) is refused without one.
"""

from __future__ import annotations

import json
from typing import Any

from threadline.outbound.domain.outbound_message import OutboundMessage
from threadline.outbound.domain.typing_indicator import TypingIndicatorRequest

_LIST_TYPES = frozenset({"contacts"})


class UnsendableMessage(ValueError):
    """The queued message cannot be expressed as a Cloud API request; sending it cannot work."""


def request_body(message: OutboundMessage, *, media_id: str = "") -> dict[str, Any]:
    """The JSON object to post for `message`; a file from the media store goes by the
    `media_id` it was uploaded as."""
    kind = message.content.type
    if not kind:
        raise UnsendableMessage(f"message {message.message_id} has no content type")
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **_address(message),
        "type": kind,
        kind: _media_object(message, media_id) if message.media else _type_object(message),
    }
    if message.quoted_wamid:
        body["context"] = {"message_id": message.quoted_wamid}
    return body


def typing_indicator_body(request: TypingIndicatorRequest) -> dict[str, Any]:
    """Marks the customer's message read and shows "typing…", as in the "Send typing indicator
    and read receipt" example of Meta's OpenAPI description (the answer is `{"success": true}`).
    """
    return {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": request.wamid,
        "typing_indicator": {"type": "text"},
    }


def _address(message: OutboundMessage) -> dict[str, str]:
    recipient = message.recipient
    if recipient.wa_id:
        return {"to": recipient.wa_id}
    if recipient.user_id:
        return {"recipient": recipient.user_id}
    raise UnsendableMessage(f"message {message.message_id} has neither a wa_id nor a user_id")


def _media_object(message: OutboundMessage, media_id: str) -> dict[str, Any]:
    """An uploaded file's object: `{"id": <media id>}` with what the session put in
    `payload_json` (a caption, a document's `filename`)."""
    if not media_id:
        raise UnsendableMessage(f"message {message.message_id}: its file was not uploaded")
    extra: dict[str, Any] = {}
    if message.content.payload_json:
        parsed = _parsed(message.message_id, message.content.type, message.content.payload_json)
        if isinstance(parsed, dict):
            extra = {k: v for k, v in parsed.items() if k not in ("id", "link")}
    return {"id": media_id, **extra}


def _type_object(message: OutboundMessage) -> Any:
    content = message.content
    if content.payload_json:
        return _parsed(message.message_id, content.type, content.payload_json)
    if content.type == "text" and content.text:
        return {"body": content.text, "preview_url": False}
    raise UnsendableMessage(
        f"message {message.message_id} of type {content.type!r} carries no payload_json"
    )


def _parsed(message_id: str, kind: str, payload_json: str) -> Any:
    try:
        value = json.loads(payload_json)
    except json.JSONDecodeError as error:
        raise UnsendableMessage(
            f"message {message_id}: payload_json is not JSON ({error})"
        ) from None
    expected = list if kind in _LIST_TYPES else dict
    if not isinstance(value, expected) or not value:
        raise UnsendableMessage(
            f"message {message_id}: payload_json of a {kind!r} message must be a non-empty "
            f"JSON {'array' if expected is list else 'object'}"
        )
    return value
