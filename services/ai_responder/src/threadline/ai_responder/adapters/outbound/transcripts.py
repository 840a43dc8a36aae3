"""Voice notes heard (issue 11): `TranscriptReady` / `TranscriptionFailed` on AI_EVENTS for the
session to record, under `transcript:<message id>` (one per voice note, whatever repeats it);
and the kept audio read from the media store."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from threadline.ai_responder.application.hearing import MediaGone
from threadline.contracts.events.v1 import ai_pb2
from threadline.media import InvalidMediaLocation, MediaNotFound, MediaStore
from threadline.messaging.bus import EventBus
from threadline.messaging.topology import TRANSCRIPT_READY, TRANSCRIPTION_FAILED, Topology

TEXT_LIMIT = 4096  # a transcript longer than any WhatsApp message is cut


class JetStreamTranscripts:
    def __init__(self, bus: EventBus, topology: Topology) -> None:
        self._bus = bus
        self._topology = topology

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
    ) -> None:
        event = ai_pb2.TranscriptReady(
            message_id=message_id,
            conversation_id=conversation_id,
            text=text[:TEXT_LIMIT],
            language=language,
            model=model,
            duration_seconds=duration_seconds or 0.0,
            transcribed_at=_timestamp(at),
        )
        subject = self._topology.conversation_subject(TRANSCRIPT_READY, conversation_id)
        await self._bus.publish(subject, event, msg_id=f"transcript:{message_id}")

    async def transcription_failed(
        self, *, conversation_id: str, message_id: str, reason: str, model: str, at: datetime
    ) -> None:
        event = ai_pb2.TranscriptionFailed(
            message_id=message_id,
            conversation_id=conversation_id,
            reason=reason[:500],
            model=model,
            failed_at=_timestamp(at),
        )
        subject = self._topology.conversation_subject(TRANSCRIPTION_FAILED, conversation_id)
        await self._bus.publish(subject, event, msg_id=f"transcript:{message_id}")


class StoredMedia:
    """`MediaReader` over the media store outbound keeps customers' files in."""

    def __init__(self, store: MediaStore) -> None:
        self._store = store

    async def get(self, location: str) -> bytes:
        try:
            return await self._store.get(location)
        except (MediaNotFound, InvalidMediaLocation) as error:
            raise MediaGone(str(error)) from error


def _timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp
