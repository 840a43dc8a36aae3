"""A customer message's file (issue 11), as the AI responder knows it: first as WhatsApp
declared it in the message (type, MIME type, file name, caption), then as the platform kept it
in its media store (with its size and where it is kept), or as not kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# WhatsApp's media message types; an attachment is one of them.
MEDIA_TYPES: Final = frozenset({"image", "video", "audio", "document", "sticker"})


@dataclass(frozen=True, slots=True)
class Attachment:
    """`location` is where the media store keeps the bytes ("" until kept, or when they could
    not be kept: then `failed` says why); `size` is 0 until kept."""

    media_type: str
    content_type: str = ""
    file_name: str = ""
    caption: str = ""
    size: int = 0
    location: str = ""
    failed: str = ""

    @property
    def kept(self) -> bool:
        return bool(self.location)

    def described(self) -> str:
        """The file as the model reads of it: its name, type and size, those known."""
        facts = ", ".join(f for f in (self.content_type, readable_size(self.size)) if f)
        if not self.file_name:
            return facts or "a file"
        return f"{self.file_name} ({facts})" if facts else self.file_name


def readable_size(size: int) -> str:
    """Bytes as a person reads them ("" when unknown): 812 bytes, 34 KB, 1.2 MB."""
    if size <= 0:
        return ""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{round(size / 1000)} KB"
    return f"{size / 1_000_000:.1f} MB"
