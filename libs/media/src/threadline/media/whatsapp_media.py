"""WhatsApp's media types and their limits (the Cloud API's "Supported media types"): which MIME
types each type takes and how large a file may be. One rule, one place: the session refuses an
operator's file that breaks them before anything is kept or sent, and the gateway answers 413 /
415 from the same table before it streams a byte upstream.

Sizes are in bytes, a megabyte being 1,048,576 bytes (a 5 MB image is at most 5 MiB).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MB: Final = 1024 * 1024
KB: Final = 1024


@dataclass(frozen=True, slots=True)
class MediaKind:
    """One WhatsApp media type: its name (the Cloud API's message `type`), the MIME types it
    takes and its largest file."""

    name: str
    content_types: frozenset[str]
    max_bytes: int
    captioned: bool  # whether WhatsApp shows a caption with it

    @property
    def a_name(self) -> str:
        """The name with its article: an image, a video."""
        return f"{'an' if self.name[0] in 'aeiou' else 'a'} {self.name}"

    @property
    def limit(self) -> str:
        """The largest file, as people write it ("5 MB", "500 KB")."""
        if self.max_bytes % MB == 0:
            return f"{self.max_bytes // MB} MB"
        return f"{self.max_bytes // KB} KB"


IMAGE: Final = MediaKind("image", frozenset({"image/jpeg", "image/png"}), 5 * MB, True)
VIDEO: Final = MediaKind("video", frozenset({"video/mp4", "video/3gpp"}), 16 * MB, True)
AUDIO: Final = MediaKind(
    "audio",
    frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}),
    16 * MB,
    False,
)
DOCUMENT: Final = MediaKind(
    "document",
    frozenset(
        {
            "application/pdf",
            "text/plain",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        }
    ),
    100 * MB,
    True,
)
STICKER: Final = MediaKind("sticker", frozenset({"image/webp"}), 500 * KB, False)
MEDIA_KINDS: Final = (IMAGE, VIDEO, AUDIO, DOCUMENT, STICKER)
LARGEST_FILE: Final = max(kind.max_bytes for kind in MEDIA_KINDS)
CAPTION_LENGTH: Final = 1024  # code points, as WhatsApp counts a media caption
FILE_NAME_LENGTH: Final = 240

_BY_CONTENT_TYPE: Final = {t: kind for kind in MEDIA_KINDS for t in kind.content_types}


class MediaRefused(ValueError):
    """A file WhatsApp would not take; the message names the field and the limit.
    `too_large` tells a size refusal (HTTP 413) from a type refusal (415)."""

    def __init__(self, message: str, *, too_large: bool) -> None:
        super().__init__(message)
        self.too_large = too_large


def essence(content_type: str) -> str:
    """`Application/PDF; charset=x` → `application/pdf`."""
    return content_type.split(";", 1)[0].strip().lower()


def media_kind(content_type: str, *, field: str = "content_type") -> MediaKind:
    """The WhatsApp type that sends a file of `content_type`, or MediaRefused naming `field`."""
    kind = _BY_CONTENT_TYPE.get(essence(content_type))
    if kind is None:
        shown = content_type[:64] or "(none)"
        raise MediaRefused(
            f"{field}: {shown!r} is not a type WhatsApp sends (images: JPEG, PNG; video: MP4,"
            " 3GPP; audio: AAC, AMR, MP3, MP4, OGG; documents: PDF, text, Office; stickers:"
            " WebP)",
            too_large=False,
        )
    return kind


def check_size(kind: MediaKind, size: int, *, field: str = "size") -> None:
    """MediaRefused naming `field` when `size` bytes are more than `kind` takes (or none)."""
    if size > kind.max_bytes:
        raise MediaRefused(
            f"{field}: {kind.a_name} may be at most {kind.limit} ({kind.max_bytes} bytes),"
            f" got {size} bytes",
            too_large=True,
        )
    if size <= 0:
        raise MediaRefused(f"{field}: the file is empty", too_large=False)
