"""What a customer's voice note said, as the AI responder heard it (issue 11 item 2): it
transcribes each voice note and reports the transcript, or why there is none. The conversation
records each once per customer message, whatever its status, so the transcript is shown beside
the audio and the assistant reads it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from threadline.session.domain.conversation_state import ConversationState

RECORDED, MISSING = "recorded", "missing"

# A transcript longer than this is cut to it: a voice note of a few minutes says far less, so a
# longer text is a runaway model, and every reader (operators, the assistant's prompt, the
# relay) gets a bounded event.
TRANSCRIPT_LIMIT = 4_096  # characters


class Transcripts(ConversationState):
    """What became of each voice note's transcription: recorded, or missing with a reason."""

    class TranscriptRecorded(Aggregate.Event):
        message_id: UUID  # the customer message the audio came with
        text: str  # at most TRANSCRIPT_LIMIT characters
        language: str  # as the model reported it, or as asked
        model: str  # provider:model
        duration_seconds: float  # of the audio, when the provider says; else 0
        transcribed_at: datetime
        trace: str

        def apply(self, aggregate: ConversationState) -> None:
            aggregate.transcripts[str(self.message_id)] = RECORDED

    class TranscriptMissing(Aggregate.Event):
        message_id: UUID
        reason: str  # what an operator reads (and why the assistant could not hear it)
        model: str
        failed_at: datetime
        trace: str

        def apply(self, aggregate: ConversationState) -> None:
            aggregate.transcripts[str(self.message_id)] = MISSING

    def record_transcript(
        self,
        *,
        message_id: UUID,
        text: str,
        language: str,
        model: str,
        duration_seconds: float,
        transcribed_at: datetime,
        trace: str = "",
    ) -> bool:
        """Record the voice note's transcript, cut to TRANSCRIPT_LIMIT characters; False when
        one was recorded already. One recorded as missing is recorded again: the voice note was
        heard after all (the AI responder transcribed it later)."""
        if self.transcripts.get(str(message_id)) == RECORDED:
            return False
        self.trigger_event(
            self.TranscriptRecorded,
            message_id=message_id,
            text=text[:TRANSCRIPT_LIMIT],
            language=language,
            model=model,
            duration_seconds=duration_seconds,
            transcribed_at=transcribed_at,
            trace=trace,
        )
        return True

    def record_missing_transcript(
        self,
        *,
        message_id: UUID,
        reason: str,
        model: str,
        failed_at: datetime,
        trace: str = "",
    ) -> bool:
        """Record why the voice note could not be transcribed; False when its outcome is
        recorded already (missing once; a transcript is not undone by a late failure)."""
        if str(message_id) in self.transcripts:
            return False
        self.trigger_event(
            self.TranscriptMissing,
            message_id=message_id,
            reason=reason,
            model=model,
            failed_at=failed_at,
            trace=trace,
        )
        return True
