"""Use case: the session's conversation events keep the responder's view up to date, and each
customer message the assistant answers joins its conversation's burst.

A customer message the policy does not answer (stickers, reactions, system notices,
unsupported types, stale messages) is kept in the view (the model reads it as context later)
but starts no burst. The burst waits the reply delay of the assistant serving the number."""

from __future__ import annotations

import logging
from datetime import datetime

from threadline.ai_responder.application.answering import Generation
from threadline.ai_responder.application.bursts import BurstScheduler
from threadline.ai_responder.application.hearing import HearVoiceNotes
from threadline.ai_responder.application.ports import ASSISTANT, CUSTOMER
from threadline.ai_responder.application.responder import Responder
from threadline.ai_responder.application.view_ports import ConversationViews, ViewedMessage
from threadline.ai_responder.domain.attachment import Attachment
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.directory import Directory

log = logging.getLogger(__name__)


class FollowConversations:
    def __init__(
        self,
        *,
        views: ConversationViews,
        directory: Directory,
        responder: Responder,
        bursts: BurstScheduler[Generation],
        hearing: HearVoiceNotes | None = None,
    ) -> None:
        self._views = views
        self._directory = directory
        self._responder = responder
        self._bursts = bursts
        self._hearing = hearing

    async def started(
        self,
        conversation_id: str,
        *,
        contact_id: str,
        business_number: str,
        customer_name: str,
        started_at: datetime,
    ) -> None:
        await self._views.started(
            conversation_id,
            contact_id=contact_id,
            business_number=business_number,
            customer_name=customer_name,
            started_at=started_at,
        )

    async def customer_wrote(
        self,
        message: CustomerMessage,
        *,
        position: int,
        wamid: str,
        stored_at: datetime | None = None,
    ) -> None:
        """Keep the message; when it is answered, add it to its burst, timed by when the
        stream stored its event (`stored_at`). Once kept by both, the event may be
        acknowledged."""
        said = ViewedMessage(
            position=position,
            message_id=message.message_id,
            role=CUSTOMER,
            text=message.text,
            type=message.type,
            sent_at=message.sent_at,
            wamid=wamid,
            # Its transcript comes later (issue 11); the burst waits for it — unless its file
            # failed already (a voice note naming no media id: nothing will come).
            awaiting_transcript=message.type == "audio"
            and self._hearing is not None
            and not _failed(message),
            attachment=message.attachment,
            # The image is kept (or not) later (issue 11); the burst waits for it, so a model
            # that sees is shown it.
            awaiting_attachment=message.type == "image" and not _failed(message),
            choice=message.choice,
        )
        view = await self._views.said(message.conversation_id, said)
        if why := self._responder.why_not_answered(message):
            log.info("not answering message %s: %s", message.message_id, why)
            return
        assistant = self._directory.assistant_for(view.business_number)
        await self._bursts.on_customer_message(
            message.conversation_id,
            message.message_id,
            delay=assistant.reply_delay,
            at=stored_at,
        )

    async def business_wrote(
        self, conversation_id: str, *, message_id: str, text: str, position: int
    ) -> None:
        """A message queued to the customer (the assistant's, an operator's, a flow's)."""
        said = ViewedMessage(position=position, message_id=message_id, role=ASSISTANT, text=text)
        await self._views.said(conversation_id, said)

    async def ai_paused(self, conversation_id: str, *, paused: bool, position: int) -> None:
        """A person took the conversation over (paused) or gave it back to the assistant."""
        await self._views.paused(conversation_id, paused=paused, position=position)

    async def audio_kept(
        self,
        conversation_id: str,
        *,
        message_id: str,
        location: str,
        content_type: str,
        file_name: str,
    ) -> None:
        """A customer's audio was kept: transcribe it (its transcript comes back as an event)."""
        if self._hearing is None:
            return
        view = await self._views.conversation(conversation_id)
        await self._hearing.audio_kept(
            conversation_id=conversation_id,
            message_id=message_id,
            business_number=view.business_number if view is not None else "",
            location=location,
            content_type=content_type,
            file_name=file_name,
        )

    async def attached(self, conversation_id: str, message_id: str, attachment: Attachment) -> None:
        """A customer message's file was kept, or could not be (`attachment.failed`)."""
        await self._views.attached(conversation_id, message_id, attachment)

    async def heard(self, conversation_id: str, message_id: str, *, transcript: str | None) -> None:
        """A voice note's transcript was recorded, or will not be (None)."""
        await self._views.heard(conversation_id, message_id, transcript=transcript)


def _failed(message: CustomerMessage) -> bool:
    return message.attachment is not None and bool(message.attachment.failed)
