"""Transcribers through the official SDK against a local OpenAI-protocol server, with the
sandbox's shipped voice note as the audio (issue 11 item 2)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from threadline.ai_responder.adapters.outbound.models import ModelSettings
from threadline.ai_responder.adapters.outbound.transcribers import (
    NO_MODEL,
    OfflineTranscriber,
    OpenAITranscriber,
    transcriber_for,
    upload_name,
)
from threadline.ai_responder.application.transcription import (
    Transcriber,
    Transcript,
    TranscriptionRefused,
    TranscriptionUnavailable,
)
from threadline.sandbox.sample_media import SAMPLES
from threadline.servicekit.config import ConfigError
from threadline.testing.model_servers import (
    ErrorAnswer,
    OpenAIServer,
    SlowAnswer,
    TranscriptAnswer,
)

VOICE_NOTE = SAMPLES["audio"]
HEARD = "Hello, do you have a table for two tonight at eight?"


@pytest.fixture
async def server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as server:
        yield server


def transcriber(
    server: OpenAIServer | str,
    *,
    name: str = "openai:whisper-1",
    timeout: float = 5.0,
    retries: int = 2,
) -> Transcriber:
    base_url = server if isinstance(server, str) else server.base_url
    env = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-test"}
    return transcriber_for(name, env, ModelSettings(timeout, retries))


async def hear(transcriber: Transcriber, *, language: str = "") -> Transcript:
    try:
        return await transcriber.transcribe(
            VOICE_NOTE.data,
            content_type=VOICE_NOTE.mime_type,
            file_name=VOICE_NOTE.filename,
            language=language,
        )
    finally:
        await transcriber.close()


async def test_a_voice_note_is_transcribed_with_what_the_provider_says(
    server: OpenAIServer,
) -> None:
    server.script(TranscriptAnswer(f"  {HEARD}\n", language="en", duration_seconds=3.2))

    transcript = await hear(transcriber(server))

    assert transcript == Transcript(
        text=HEARD, language="en", duration_seconds=3.2, model="openai:whisper-1"
    )


async def test_the_request_carries_the_audio_its_type_the_model_and_the_key(
    server: OpenAIServer,
) -> None:
    server.script(TranscriptAnswer(HEARD))

    await hear(transcriber(server, name="openai:gpt-4o-mini-transcribe"))

    (request,) = server.requests
    assert request.path == "/v1/audio/transcriptions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["model"] == "gpt-4o-mini-transcribe"
    assert request.body["response_format"] == "json"
    assert "language" not in request.body
    assert request.file is not None
    assert request.file.name == "voice-note.ogg"
    assert request.file.content_type == "audio/ogg; codecs=opus"
    assert request.file.size == len(VOICE_NOTE.data) > 1000
    assert request.file.data == VOICE_NOTE.data


async def test_the_assistants_language_is_passed_and_kept_when_the_provider_is_silent(
    server: OpenAIServer,
) -> None:
    server.script(TranscriptAnswer("Hola, ¿tienen mesa para dos esta noche?"))

    transcript = await hear(transcriber(server), language="es")

    assert server.requests[0].body["language"] == "es"
    assert transcript.language == "es"
    assert transcript.duration_seconds is None


async def test_the_detected_language_wins_over_the_one_asked(server: OpenAIServer) -> None:
    server.script(TranscriptAnswer(HEARD, language="en"))

    transcript = await hear(transcriber(server), language="es")

    assert transcript.language == "en"


async def test_rate_limits_and_server_errors_are_retried_then_the_transcript_comes(
    server: OpenAIServer,
) -> None:
    server.script(ErrorAnswer(429, "slow down"), ErrorAnswer(500), TranscriptAnswer(HEARD))

    transcript = await hear(transcriber(server, retries=2))

    assert transcript.text == HEARD
    assert len(server.requests) == 3
    assert all(r.file is not None and r.file.data == VOICE_NOTE.data for r in server.requests)


async def test_retries_are_bounded_then_transcription_is_unavailable(
    server: OpenAIServer,
) -> None:
    server.script(ErrorAnswer(503, "busy"), ErrorAnswer(503, "busy"), TranscriptAnswer(HEARD))

    with pytest.raises(TranscriptionUnavailable, match="HTTP 503: busy") as raised:
        await hear(transcriber(server, retries=1))

    assert len(server.requests) == 2
    assert server.pending == 1
    assert raised.value.model == "openai:whisper-1"


@pytest.mark.parametrize(
    ("status", "message"),
    [(400, "Audio file might be corrupted or unsupported"), (401, "Incorrect API key")],
)
async def test_bad_audio_or_a_bad_key_is_refused_without_retrying(
    server: OpenAIServer, status: int, message: str
) -> None:
    server.script(ErrorAnswer(status, message), TranscriptAnswer(HEARD))

    with pytest.raises(TranscriptionRefused, match=f"HTTP {status}: {message}") as raised:
        await hear(transcriber(server))

    assert raised.value.reason == f"HTTP {status}: {message}"
    assert len(server.requests) == 1


async def test_nothing_listening_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The port is free again: nothing listens there.

    with pytest.raises(TranscriptionUnavailable, match="cannot connect"):
        await hear(transcriber(f"http://127.0.0.1:{port}/v1", retries=1))


async def test_a_slow_provider_times_out_as_unavailable(server: OpenAIServer) -> None:
    server.script(SlowAnswer(5.0, TranscriptAnswer(HEARD)))

    with pytest.raises(TranscriptionUnavailable, match="timed out"):
        await hear(transcriber(server, timeout=0.3, retries=0))

    assert len(server.requests) == 1


async def test_empty_audio_is_refused_before_anything_is_sent(server: OpenAIServer) -> None:
    voice = transcriber(server)

    with pytest.raises(TranscriptionRefused, match="the audio is empty"):
        await voice.transcribe(b"", content_type="audio/ogg", file_name="")

    await voice.close()
    assert server.requests == []


async def test_offline_refuses_honestly() -> None:
    offline = transcriber_for("offline:none", {})

    assert isinstance(offline, OfflineTranscriber)
    assert offline.name == "offline:none"
    with pytest.raises(TranscriptionRefused, match=NO_MODEL):
        await hear(offline)


def test_names_become_transcribers_or_a_config_error_naming_the_setting() -> None:
    openai = transcriber_for("openai:whisper-large-v3", {"OPENAI_API_KEY": "gsk"})

    assert isinstance(openai, OpenAITranscriber)
    assert openai.name == "openai:whisper-large-v3"
    with pytest.raises(ConfigError, match="'THREADLINE_AI_TRANSCRIPTION_MODEL' must be"):
        transcriber_for("whisper-1", {"OPENAI_API_KEY": "k"})
    with pytest.raises(ConfigError, match="'assistant salon: transcription' must be"):
        transcriber_for("anthropic:claude", {}, setting="assistant salon: transcription")
    with pytest.raises(ConfigError, match="'OPENAI_API_KEY' is missing"):
        transcriber_for("openai:whisper-1", {})


@pytest.mark.parametrize(
    ("file_name", "content_type", "sent"),
    [
        ("voice-note.ogg", "audio/ogg; codecs=opus", "voice-note.ogg"),
        ("", "audio/ogg; codecs=opus", "voice-note.ogg"),
        ("", "audio/mpeg", "voice-note.mp3"),
        ("recording", "audio/mp4", "recording.m4a"),
        ("", "audio/amr", "voice-note.ogg"),
    ],
)
def test_a_file_name_the_provider_can_decode_by(
    file_name: str, content_type: str, sent: str
) -> None:
    assert upload_name(file_name, content_type) == sent
