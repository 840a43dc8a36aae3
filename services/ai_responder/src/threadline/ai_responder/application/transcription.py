"""What the responder needs to hear a voice note (issue 11 item 2): a `Transcriber`.

A customer's voice note becomes text the assistant answers. The adapters (over the
OpenAI-compatible `/v1/audio/transcriptions` endpoint, and the honest offline one) live in
adapters/outbound/transcribers.py; `transcriber_for("provider:model", env)` builds one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was heard. `language` is the one the provider detected, else the one asked for,
    else empty; `duration_seconds` is None when the provider does not say; `model` is
    `provider:model`, kept beside the transcript like a reply's model."""

    text: str
    language: str
    duration_seconds: float | None
    model: str


class TranscriptionError(Exception):
    """No transcript; `reason` is what the assistant and an operator are told."""

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(f"{model}: {reason}")
        self.model = model
        self.reason = reason


class TranscriptionUnavailable(TranscriptionError):
    """Down, timed out, overloaded or rate limited, after the SDK's bounded retries: a later
    attempt may succeed."""


class TranscriptionRefused(TranscriptionError):
    """The provider refused the audio or the request (unreadable audio, authentication,
    permission, no model configured): trying again will not help."""


class Transcriber(Protocol):
    @property
    def name(self) -> str:
        """`provider:model`."""
        ...

    async def transcribe(
        self, audio: bytes, *, content_type: str, file_name: str, language: str = ""
    ) -> Transcript:
        """The transcript of `audio`; `language` (ISO-639-1, e.g. "en") when the assistant's
        language is known, so the model does not guess it from a few seconds of speech.
        Raises TranscriptionUnavailable or TranscriptionRefused."""
        ...

    async def close(self) -> None:
        """Release the transcriber's connections."""
        ...
