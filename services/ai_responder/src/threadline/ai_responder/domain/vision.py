"""Which models see images, and which images they are shown (issue 11 item 3).

A model sees images when its `provider:model` name matches one of the configured glob patterns
(case-insensitive; a pattern matching the model part alone, like `llava*`, matches it under any
provider; a pattern starting with `!` excludes what it matches, whatever else matches). The offline
assistant never sees. A model that sees is shown the images of the burst it answers, at most
`max_images`, each of a type every provider takes (JPEG, PNG, WebP, GIF) and no larger than
`max_bytes` (WhatsApp's own image limit, 5 MB, by default); any other image is mentioned to it
in words, with why it cannot see it."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Final

from threadline.ai_responder.domain.attachment import Attachment, readable_size

# Current vision models of OpenAI and Anthropic, and common local ones (Ollama, vLLM, LM
# Studio, all through the OpenAI protocol); o3-mini and the audio-only models see nothing.
DEFAULT_VISION_MODELS: Final = (
    "openai:gpt-4o*",
    "openai:chatgpt-4o*",
    "openai:gpt-4.1*",
    "openai:gpt-4.5*",
    "openai:gpt-5*",
    "openai:o1",
    "openai:o1-20*",
    "openai:o3*",
    "openai:o4*",
    "anthropic:claude-*",
    "llava*",
    "bakllava*",
    "*vision*",
    "*-vl*",
    "gemma3*",
    "qwen2.5vl*",
    "minicpm-v*",
    "pixtral*",
    "!openai:o3-mini*",
    "!*-audio-*",
    "!*-realtime-*",
    "!*-transcribe*",
    "!*-tts*",
)
DEFAULT_MAX_IMAGES: Final = 4
DEFAULT_MAX_IMAGE_BYTES: Final = 5 * 1024 * 1024
# What OpenAI's and Anthropic's APIs both accept.
SUPPORTED_IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})


@dataclass(frozen=True, slots=True)
class Image:
    """An image shown to the model: its MIME type and bytes."""

    content_type: str
    data: bytes

    @property
    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    @property
    def data_url(self) -> str:
        return f"data:{self.content_type};base64,{self.base64}"


@dataclass(frozen=True, slots=True)
class VisionSettings:
    """Which models see (`models`, glob patterns) and the bounds of what they are shown."""

    models: tuple[str, ...] = DEFAULT_VISION_MODELS
    max_images: int = DEFAULT_MAX_IMAGES
    max_bytes: int = DEFAULT_MAX_IMAGE_BYTES

    def sees(self, model: str) -> bool:
        """Whether `model` (`provider:model`) is shown images."""
        name = model.strip().lower()
        provider, _, bare = name.partition(":")
        if provider == "offline" or not bare:
            return False
        included = [p for p in self._patterns() if not p.startswith("!")]
        excluded = [p[1:] for p in self._patterns() if p.startswith("!")]
        return _matches(name, bare, included) and not _matches(name, bare, excluded)

    def why_not_shown(self, attachment: Attachment) -> str:
        """Why a model that sees is not shown this image ("" when it is shown)."""
        if not attachment.kept:
            return "it could not be kept" if attachment.failed else "it did not arrive in time"
        content_type = attachment.content_type.split(";")[0].strip().lower()
        if content_type not in SUPPORTED_IMAGE_TYPES:
            return f"{content_type or 'its type'} cannot be shown"
        if attachment.size > self.max_bytes:
            return f"it is too large to show ({readable_size(attachment.size)})"
        return ""

    def _patterns(self) -> list[str]:
        return [p.strip().lower() for p in self.models if p.strip()]


def _matches(name: str, bare: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, p) or fnmatchcase(bare, p) for p in patterns)
