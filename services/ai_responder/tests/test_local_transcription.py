"""The offline transcriber for real: Whisper tiny.en (the `local:bundled` model, installed by the
workspace's dev group) hears the sandbox's shipped voice note on this CPU (issue 11 item 2).

espeak-ng's voice is hard for the smallest Whisper: the test asserts words it hears reliably
("hello", and the time), not the whole sentence.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.ai_responder.adapters.outbound.local_transcriber import (
    LocalTranscriber,
    model_directory,
)
from threadline.ai_responder.adapters.outbound.transcribers import transcriber_for
from threadline.ai_responder.application.transcription import TranscriptionRefused
from threadline.sandbox.sample_media import SAMPLES
from threadline.servicekit.config import ConfigError

VOICE_NOTE = SAMPLES["audio"]
SETTING = "THREADLINE_AI_TRANSCRIPTION_MODEL"


@pytest.fixture(scope="module")
def bundled() -> LocalTranscriber:
    transcriber = transcriber_for("local:bundled", {})
    assert isinstance(transcriber, LocalTranscriber)
    return transcriber


async def test_the_bundled_model_hears_the_voice_note_in_english(
    bundled: LocalTranscriber,
) -> None:
    transcript = await bundled.transcribe(
        VOICE_NOTE.data,
        content_type=VOICE_NOTE.mime_type,
        file_name=VOICE_NOTE.filename,
        language="en",
    )

    words = transcript.text.lower()
    assert words.startswith("hello"), transcript.text
    assert "8" in words or "eight" in words, transcript.text
    assert transcript.language == "en"
    assert transcript.duration_seconds is not None and 3.0 < transcript.duration_seconds < 4.5
    assert transcript.model == "local:bundled"


async def test_an_english_only_model_refuses_another_language_instead_of_guessing(
    bundled: LocalTranscriber,
) -> None:
    with pytest.raises(TranscriptionRefused, match="only English"):
        await bundled.transcribe(
            VOICE_NOTE.data, content_type=VOICE_NOTE.mime_type, file_name="", language="pt-BR"
        )


async def test_audio_it_cannot_decode_is_refused_with_why(bundled: LocalTranscriber) -> None:
    with pytest.raises(TranscriptionRefused, match="cannot decode"):
        await bundled.transcribe(b"not an ogg file", content_type="audio/ogg", file_name="")
    with pytest.raises(TranscriptionRefused, match="empty"):
        await bundled.transcribe(b"", content_type="audio/ogg", file_name="")


def test_a_directory_that_is_not_a_model_is_a_config_error_naming_the_setting(
    tmp_path: Path,
) -> None:
    (tmp_path / "config.json").write_text("{}")

    with pytest.raises(ConfigError, match=f"'{SETTING}'.*missing model.bin"):
        transcriber_for(f"local:{tmp_path}", {})
    assert model_directory("bundled", setting=SETTING).joinpath("model.bin").is_file()
