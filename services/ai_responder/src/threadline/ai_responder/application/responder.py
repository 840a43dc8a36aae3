"""Use case: a customer message arrives → maybe a drafted reply, maybe a hand-off."""

from __future__ import annotations

import logging
from datetime import timedelta

from threadline.ai_responder.application.ports import LanguageModel, Prompt, Replies
from threadline.ai_responder.domain.answers import HandOffRequest, ReplyDraft
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.policy import is_stale, wants_a_person
from threadline.servicekit.clock import Clock

log = logging.getLogger(__name__)


class Responder:
    """Drafts a reply for each fresh customer message; the session decides whether to send it."""

    def __init__(self, model: LanguageModel, *, clock: Clock, stale_after: timedelta) -> None:
        self._model, self._clock, self._stale_after = model, clock, stale_after

    def draft(self, message: CustomerMessage) -> ReplyDraft | None:
        now = self._clock()
        if is_stale(message.sent_at, now, stale_after=self._stale_after):
            return None
        completion = self._model.complete(
            Prompt(
                customer_name=message.customer_name,
                message_type=message.type,
                text=message.text,
            )
        )
        return ReplyDraft.answering(
            message,
            text=completion.text,
            model=completion.model,
            tokens=(completion.prompt_tokens, completion.completion_tokens),
            at=now,
        )

    def hand_off(self, message: CustomerMessage) -> HandOffRequest | None:
        """A customer who asks for a person gets one: the session escalates the conversation."""
        if not wants_a_person(message):
            return None
        return HandOffRequest.after(message, at=self._clock())


class AnswerCustomerMessage:
    """Draft, hand the draft on, and only then the hand-off (so the session queues the reply
    before it escalates); a stale message is answered with nothing."""

    def __init__(self, responder: Responder, replies: Replies) -> None:
        self._responder, self._replies = responder, replies

    async def __call__(self, message: CustomerMessage) -> ReplyDraft | None:
        draft = self._responder.draft(message)
        if draft is None:
            log.info("not answering stale message %s", message.message_id)
            return None
        await self._replies.reply_drafted(draft)
        if (hand_off := self._responder.hand_off(message)) is not None:
            await self._replies.hand_off_requested(hand_off)
        return draft
