"""Use case: a customer's voice note was kept → its transcript (issue 11 item 2).

When the session records an audio attachment, the responder reads the kept bytes from the media
store and asks the transcriber, in the language of the assistant serving the number; the
transcript (or why there is none: no transcription model, the provider refused the audio or
stayed unavailable after its bounded retries, the file is gone) is published for the session to
record. The voice note's burst waits for it (application/answering.py): the assistant answers
what the customer said, or is told a voice note could not be heard."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from threadline.ai_responder.application.transcription import (
    Transcriber,
    TranscriptionError,
)
from threadline.ai_responder.domain.directory import Directory
from threadline.servicekit.clock import Clock

log = logging.getLogger(__name__)


class MediaReader(Protocol):
    async def get(self, location: str) -> bytes:
        """The kept bytes at `location`; raises the store's MediaNotFound when they are gone,
        MediaStoreUnavailable when the store cannot be reached (tried again later)."""
        ...


class Transcripts(Protocol):
    """Where transcripts go (the session records them); each raises when not kept."""

    async def transcript_ready(
        self,
        *,
        conversation_id: str,
        message_id: str,
        text: str,
        language: str,
        model: str,
        duration_seconds: float | None,
        at: datetime,
    ) -> None: ...

    async def transcription_failed(
        self, *, conversation_id: str, message_id: str, reason: str, model: str, at: datetime
    ) -> None: ...


class MediaGone(Exception):
    """The adapter's way of saying the kept file is not there (the store's MediaNotFound)."""


class HearVoiceNotes:
    def __init__(
        self,
        *,
        media: MediaReader,
        transcriber: Transcriber,
        transcripts: Transcripts,
        directory: Directory,
        clock: Clock,
    ) -> None:
        self._media = media
        self._transcriber = transcriber
        self._transcripts = transcripts
        self._directory = directory
        self._clock = clock

    async def audio_kept(
        self,
        *,
        conversation_id: str,
        message_id: str,
        business_number: str,
        location: str,
        content_type: str,
        file_name: str,
    ) -> None:
        """Transcribe the kept audio and publish the transcript, or why there is none. A store
        out of reach raises (the event is tried again); nothing else does."""
        model = self._transcriber.name
        try:
            audio = await self._media.get(location)
        except MediaGone as gone:
            await self._failed(conversation_id, message_id, f"the audio is gone: {gone}", model)
            return
        language = self._directory.assistant_for(business_number).language
        try:
            transcript = await self._transcriber.transcribe(
                audio, content_type=content_type, file_name=file_name, language=language
            )
        except TranscriptionError as error:
            await self._failed(conversation_id, message_id, error.reason, error.model)
            return
        await self._transcripts.transcript_ready(
            conversation_id=conversation_id,
            message_id=message_id,
            text=transcript.text,
            language=transcript.language or language,
            model=transcript.model,
            duration_seconds=transcript.duration_seconds,
            at=self._clock(),
        )

    async def _failed(self, conversation_id: str, message_id: str, reason: str, model: str) -> None:
        log.info("voice note %s not transcribed: %s", message_id, reason)
        await self._transcripts.transcription_failed(
            conversation_id=conversation_id,
            message_id=message_id,
            reason=reason,
            model=model,
            at=self._clock(),
        )
