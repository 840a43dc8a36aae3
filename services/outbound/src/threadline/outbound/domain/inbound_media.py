"""A file a customer sent (image, video, audio, document, sticker), as its message names it.

The message's content object (`payload_json` of `CustomerMessageReceived`) is the Cloud API's
media object: `{"id", "mime_type", "sha256", "caption"?, "filename"?, "voice"?}`. Only the id is
needed to fetch the file; the hash, when there, lets a duplicate be recognised before it is
downloaded. Meta's webhooks carry `sha256` in base64, `GET /{media-id}` answers it in hex (the
sandbox's does): both are read as the same hex digest.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True, slots=True)
class InboundMedia:
    """The media of customer message `message_id` in `conversation_id`, to be kept."""

    message_id: str
    conversation_id: str
    media_id: str  # Meta's
    media_type: str  # one of MEDIA_TYPES
    mime_type: str = ""  # as the webhook says; the fetched one is what is kept
    sha256: str = ""  # hex, lower case; "" when the webhook gave none (or an unreadable one)
    caption: str = ""
    file_name: str = ""
    voice: bool = False


class NotMedia(ValueError):
    """A media message whose content object names no media id: there is nothing to fetch."""


def inbound_media(
    *, message_id: str, conversation_id: str, media_type: str, payload: Any
) -> InboundMedia:
    """The media a message of `media_type` names in its content object `payload` (parsed)."""
    if not isinstance(payload, dict):
        raise NotMedia(f"message {message_id}: the {media_type} object is not a JSON object")
    media_id = payload.get("id")
    if not isinstance(media_id, str) or not media_id.strip():
        raise NotMedia(f"message {message_id}: the {media_type} object has no media id")
    return InboundMedia(
        message_id=message_id,
        conversation_id=conversation_id,
        media_id=media_id.strip(),
        media_type=media_type,
        mime_type=_text(payload.get("mime_type")),
        sha256=sha256_hex_of(_text(payload.get("sha256"))) or "",
        caption=_text(payload.get("caption")),
        file_name=_text(payload.get("filename")),
        voice=payload.get("voice") is True,
    )


def sha256_hex_of(value: str) -> str | None:
    """A sha256 given in hex or base64, as lower-case hex; None when it is neither."""
    value = value.strip()
    if _HEX_SHA256.fullmatch(value):
        return value.lower()
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        try:
            digest = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            return None
    return digest.hex() if len(digest) == 32 else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
