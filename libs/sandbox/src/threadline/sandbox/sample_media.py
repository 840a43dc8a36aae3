"""Small real files the simulated customer sends when a test does not bring its own.

Made for the project (see `libs/sandbox/scripts/make_media_samples.py`): a 16x16 PNG and a
one-page PDF written by that script, and a voice note ("Hello, do you have a table for two
tonight at eight?") spoken by espeak-ng and encoded by opusenc as mono OGG Opus, as WhatsApp
records voice notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final, Literal

MediaKind = Literal["image", "document", "audio"]
MEDIA_KINDS: Final[tuple[MediaKind, ...]] = ("image", "document", "audio")


@dataclass(frozen=True, kw_only=True)
class SampleFile:
    """A shipped file and the type WhatsApp would give it."""

    filename: str
    mime_type: str

    @property
    def data(self) -> bytes:
        """The file's bytes."""
        return _read(self.filename)


SAMPLES: Final[dict[MediaKind, SampleFile]] = {
    "image": SampleFile(filename="photo.png", mime_type="image/png"),
    "document": SampleFile(filename="invoice.pdf", mime_type="application/pdf"),
    "audio": SampleFile(filename="voice-note.ogg", mime_type="audio/ogg; codecs=opus"),
}


@cache
def _read(filename: str) -> bytes:
    return resources.files("threadline.sandbox").joinpath("samples", filename).read_bytes()
