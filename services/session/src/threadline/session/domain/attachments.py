"""The media a customer sent, as outbound kept it (issue 11 item 1): outbound fetches each media
message from the Graph API into the media store and reports it kept, or why it could not be.
The conversation records each once per customer message, whatever its status: a closed
conversation still keeps its attachments."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from threadline.session.domain.conversation_state import ConversationState

STORED, FAILED = "stored", "failed"
INBOUND, OUTBOUND = "inbound", "outbound"  # whose media: the customer's, the business's


class Attachments(ConversationState):
    """What became of each customer message's media: stored, or failed with a reason."""

    class AttachmentStored(Aggregate.Event):
        message_id: UUID  # the customer message the media came with
        media_id: str  # Meta's
        media_type: str  # image, video, audio, document, sticker
        content_type: str
        size: int  # bytes
        sha256: str  # hex
        file_name: str
        caption: str
        voice: bool  # an audio message recorded as a voice note
        location: str  # where the media store keeps it (file:///..., s3://bucket/key)
        kept_at: datetime
        trace: str
        # Added with issue 11 item 5 (last, with a default: events stored before it read back
        # as a customer's media): inbound, or outbound for a file the business sent.
        direction: str = INBOUND

        def apply(self, aggregate: ConversationState) -> None:
            aggregate.attachments[str(self.message_id)] = STORED

    class AttachmentFailed(Aggregate.Event):
        message_id: UUID
        media_id: str
        media_type: str
        reason: str  # what an operator reads
        refused: bool  # refused on purpose (too large, wrong hash), not a failure to fetch
        attempts: int
        failed_at: datetime
        trace: str

        def apply(self, aggregate: ConversationState) -> None:
            aggregate.attachments[str(self.message_id)] = FAILED

    def is_customer_message(self, message_id: UUID) -> bool:
        state = self.messages.get(str(message_id))
        return state is not None and not state.is_outbound

    def store_attachment(
        self,
        *,
        message_id: UUID,
        media_id: str,
        media_type: str,
        content_type: str,
        size: int,
        sha256: str,
        file_name: str,
        caption: str,
        voice: bool,
        location: str,
        kept_at: datetime,
        trace: str = "",
        direction: str = INBOUND,
    ) -> bool:
        """Record the customer message's media as kept; False when it was already. One
        recorded as failed is recorded again as stored: the media is kept after all (outbound
        fetched it later), and that is what an operator needs to see."""
        if self.attachments.get(str(message_id)) == STORED:
            return False
        self.trigger_event(
            self.AttachmentStored,
            message_id=message_id,
            media_id=media_id,
            media_type=media_type,
            content_type=content_type,
            size=size,
            sha256=sha256,
            file_name=file_name,
            caption=caption,
            voice=voice,
            location=location,
            kept_at=kept_at,
            trace=trace,
            direction=direction,
        )
        return True

    def fail_attachment(
        self,
        *,
        message_id: UUID,
        media_id: str,
        media_type: str,
        reason: str,
        refused: bool,
        attempts: int,
        failed_at: datetime,
        trace: str = "",
    ) -> bool:
        """Record why the customer message's media could not be kept; False when its outcome
        is recorded already (a failure once; a kept media is not undone by a late failure)."""
        if str(message_id) in self.attachments:
            return False
        self.trigger_event(
            self.AttachmentFailed,
            message_id=message_id,
            media_id=media_id,
            media_type=media_type,
            reason=reason,
            refused=refused,
            attempts=attempts,
            failed_at=failed_at,
            trace=trace,
        )
        return True
