"""An operator's files (issue 11 items 5 and 6): each is checked against WhatsApp's type and size
limits (`threadline.media.whatsapp_media`) before anything is kept or queued, kept in the media
store, and queued as one message; the text, if any, follows. The messages of one such reply share
a `reply_id` and know their place in it, so outbound sends them in order with a pause between.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from threadline.media.whatsapp_media import (
    CAPTION_LENGTH,
    FILE_NAME_LENGTH,
    MediaKind,
    MediaRefused,
    check_size,
    essence,
    media_kind,
)
from threadline.session.domain.errors import InvalidMessage

MAX_FILES = 10  # files in one reply


@dataclass(frozen=True, slots=True)
class FileDeclared:
    """What an operator says of a file before its bytes: name, MIME type, caption, size (0 when
    not known yet)."""

    file_name: str
    content_type: str
    caption: str = ""
    size: int = 0


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """A declared file WhatsApp can take, as which of its types."""

    declared: FileDeclared
    kind: MediaKind

    @property
    def content_type(self) -> str:
        return essence(self.declared.content_type)

    def check_received(self, size: int, *, field: str) -> None:
        """The bytes received so far still fit the type's limit; FileRefused naming `field`
        otherwise."""
        try:
            check_size(self.kind, size, field=field)
        except MediaRefused as refused:
            raise FileRefused(str(refused), too_large=refused.too_large) from None

    def check_complete(self, size: int, *, field: str) -> None:
        """The whole file fits the limit, is not empty, and is as large as declared."""
        self.check_received(size, field=field)
        if self.declared.size and size != self.declared.size:
            raise InvalidMessage(
                f"{field}: {self.declared.size} bytes were declared, {size} were sent"
            )


class FileRefused(InvalidMessage):
    """A file WhatsApp would not take (INVALID_ARGUMENT); `too_large` for its size."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


def check_declared(declared: FileDeclared, index: int) -> CheckedFile:
    """The file's WhatsApp type, when its name, type, caption and declared size keep WhatsApp's
    limits; FileRefused naming the field (`files[1].content_type: …`) otherwise."""
    field = f"files[{index}]"
    if not declared.file_name.strip():
        raise FileRefused(f"{field}.file_name is required")
    if len(declared.file_name) > FILE_NAME_LENGTH:
        raise FileRefused(f"{field}.file_name: at most {FILE_NAME_LENGTH} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in declared.file_name):
        # A CR or LF would break the multipart header outbound uploads the file with.
        raise FileRefused(f"{field}.file_name must not contain control characters")
    try:
        kind = media_kind(declared.content_type, field=f"{field}.content_type")
    except MediaRefused as refused:
        raise FileRefused(str(refused)) from None
    if declared.caption and not kind.captioned:
        raise FileRefused(f"{field}.caption: WhatsApp shows no caption with {kind.a_name}")
    if len(declared.caption) > CAPTION_LENGTH:
        raise FileRefused(
            f"{field}.caption: at most {CAPTION_LENGTH} characters, got {len(declared.caption)}"
        )
    if declared.size < 0:
        raise FileRefused(f"{field}.size must not be negative")
    checked = CheckedFile(declared, kind)
    if declared.size:
        checked.check_received(declared.size, field=f"{field}.size")
    return checked


@dataclass(frozen=True, slots=True)
class OutgoingMedia:
    """A kept file a queued message sends: where the media store keeps it and what it is."""

    location: str
    content_type: str
    size: int
    sha256: str
    file_name: str
    media_type: str  # WhatsApp's: image, video, audio, document, sticker
    caption: str = ""

    def event_fields(self) -> dict[str, object]:
        return {
            "media_location": self.location,
            "media_content_type": self.content_type,
            "media_size": self.size,
            "media_sha256": self.sha256,
            "media_file_name": self.file_name,
            "media_type": self.media_type,
        }

    def content(self) -> dict[str, str]:
        """The queued message's content: WhatsApp's type, the caption or else the file name as
        its readable text, and the type's Cloud API object without the media id outbound gets
        when it uploads the file (`caption`, and a document's `filename`)."""
        payload: dict[str, str] = {}
        if self.caption:
            payload["caption"] = self.caption
        if self.media_type == "document":
            payload["filename"] = self.file_name
        return {
            "type": self.media_type,
            "text": self.caption or self.file_name,
            "payload_json": json.dumps(payload) if payload else "",
        }


@dataclass(frozen=True, slots=True)
class ReplyPlace:
    """A message's place in a reply of several (`part` from 0 of `parts`)."""

    reply_id: str
    part: int
    parts: int

    def event_fields(self) -> dict[str, object]:
        return {"reply_id": self.reply_id, "reply_part": self.part, "reply_parts": self.parts}
