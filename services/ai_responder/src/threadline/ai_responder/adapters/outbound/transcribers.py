"""Transcribers (issue 11 item 2): `openai:` over the official SDK's `audio.transcriptions`
(OpenAI, Groq, faster-whisper-server, vLLM: any server of that protocol, by OPENAI_BASE_URL),
`local:` Whisper on this machine's CPU (adapters/outbound/local_transcriber.py, an extra), and
the honest `offline:` one that refuses.

`transcriber_for("openai:whisper-1", env)` is the one way to get one, named like the chat
models (`model_for`), and as patient as `ModelSettings` says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import openai
from openai import AsyncOpenAI

from threadline.ai_responder.adapters.outbound.local_transcriber import local_transcriber
from threadline.ai_responder.adapters.outbound.models.factory import ModelSettings, openai_client
from threadline.ai_responder.adapters.outbound.models.failures import TRANSIENT_STATUSES
from threadline.ai_responder.application.transcription import (
    Transcriber,
    Transcript,
    TranscriptionError,
    TranscriptionRefused,
    TranscriptionUnavailable,
)
from threadline.servicekit.config import ConfigError

NO_MODEL = "no transcription model configured"

# The providers pick the decoder by the file name's extension; WhatsApp voice notes often come
# without a file name, so one is made from the content type.
EXTENSIONS: Mapping[str, str] = {
    "audio/ogg": ".ogg",
    "audio/opus": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/mp4": ".m4a",
    "audio/m4a": ".m4a",
    "audio/x-m4a": ".m4a",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/webm": ".webm",
    "audio/flac": ".flac",
}


class OpenAITranscriber:
    """`POST /audio/transcriptions`, response_format json; the SDK does the timeouts and the
    bounded retries (429, 5xx, connection errors), then the failure is classified once."""

    def __init__(self, client: AsyncOpenAI, model: str) -> None:
        self._client = client
        self._model = model
        self.name = f"openai:{model}"

    async def transcribe(
        self, audio: bytes, *, content_type: str, file_name: str, language: str = ""
    ) -> Transcript:
        if not audio:
            raise TranscriptionRefused(self.name, "the audio is empty")
        try:
            transcription = await self._client.audio.transcriptions.create(
                file=(upload_name(file_name, content_type), audio, content_type or None),
                model=self._model,
                language=language or openai.omit,
                response_format="json",
            )
        except openai.APIStatusError as error:
            raise _status_failure(self.name, error) from error
        except openai.APITimeoutError as error:
            raise TranscriptionUnavailable(self.name, "timed out") from error
        except openai.APIConnectionError as error:
            raise TranscriptionUnavailable(self.name, f"cannot connect: {error}") from error
        except openai.APIError as error:
            raise TranscriptionUnavailable(self.name, f"unreadable answer: {error}") from error
        extra = transcription.model_extra or {}
        return Transcript(
            text=transcription.text.strip(),
            language=_language(transcription, extra) or language,
            duration_seconds=_duration(transcription, extra),
            model=self.name,
        )

    async def close(self) -> None:
        await self._client.close()


class OfflineTranscriber:
    """No transcription model: every voice note is refused with why, so the assistant is told
    a voice note could not be heard instead of waiting for a transcript that cannot come."""

    def __init__(self, model: str = "none") -> None:
        self.name = f"offline:{model}"

    async def transcribe(
        self, audio: bytes, *, content_type: str, file_name: str, language: str = ""
    ) -> Transcript:
        raise TranscriptionRefused(self.name, NO_MODEL)

    async def close(self) -> None:
        return None


def upload_name(file_name: str, content_type: str) -> str:
    """`file_name` when it has an extension, else one the provider can decode by."""
    name = file_name.rsplit("/", 1)[-1] or "voice-note"
    if "." in name.lstrip("."):
        return name
    essence = content_type.split(";", 1)[0].strip().lower()
    return name + EXTENSIONS.get(essence, ".ogg")


def _language(transcription: Any, extra: Mapping[str, Any]) -> str:
    # OpenAI's gpt-transcribe lists the languages it detected; Whisper-style servers
    # (faster-whisper-server, vLLM) may say `language` beside the text.
    languages = transcription.languages or ()
    if languages:
        return str(languages[0].code)
    spoken = extra.get("language")
    return spoken if isinstance(spoken, str) else ""


def _duration(transcription: Any, extra: Mapping[str, Any]) -> float | None:
    usage = transcription.usage
    if usage is not None and usage.type == "duration":
        return float(usage.seconds)
    seconds = extra.get("duration")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return float(seconds)
    return None


def _status_failure(name: str, error: openai.APIStatusError) -> TranscriptionError:
    """5xx and 408/409/429 unavailable (the SDK has retried them), any other 4xx refused."""
    reason = f"HTTP {error.status_code}: {_message(error)}"
    if error.status_code >= 500 or error.status_code in TRANSIENT_STATUSES:
        return TranscriptionUnavailable(name, reason)
    return TranscriptionRefused(name, reason)


def _message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return error.message


def _openai(model: str, env: Mapping[str, str], settings: ModelSettings) -> Transcriber:
    client = openai_client(env, settings, what="transcription models")
    return OpenAITranscriber(client, model)


def _offline(model: str, env: Mapping[str, str], settings: ModelSettings) -> Transcriber:
    return OfflineTranscriber(model)


def _local(model: str, env: Mapping[str, str], settings: ModelSettings) -> Transcriber:
    return local_transcriber(model, env, setting="THREADLINE_AI_TRANSCRIPTION_MODEL")


TRANSCRIBERS: Mapping[str, Callable[[str, Mapping[str, str], ModelSettings], Transcriber]] = {
    "openai": _openai,
    "local": _local,
    "offline": _offline,
}


def transcriber_for(
    name: str,
    env: Mapping[str, str],
    settings: ModelSettings | None = None,
    *,
    setting: str = "THREADLINE_AI_TRANSCRIPTION_MODEL",
) -> Transcriber:
    """The transcriber called `provider:model`; `setting` is what a ConfigError names."""
    provider, _, model = name.partition(":")
    if not model or provider not in TRANSCRIBERS:
        raise ConfigError(
            f"Config '{setting}' must be provider:model with provider one of "
            f"{', '.join(sorted(TRANSCRIBERS))} (e.g. openai:whisper-1), got {name!r}."
        )
    return TRANSCRIBERS[provider](model, env, settings or ModelSettings())
