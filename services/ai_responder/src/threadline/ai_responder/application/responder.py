"""Use case: a customer message arrives → maybe a drafted reply, maybe a hand-off."""

from __future__ import annotations

import logging
from datetime import timedelta

from threadline.ai_responder.application.ports import LanguageModel, Prompt, Replies
from threadline.ai_responder.domain.answers import HandOffRequest, ReplyDraft
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.policy import wants_a_person, why_not_answered
from threadline.servicekit.clock import Clock

log = logging.getLogger(__name__)


class Responder:
    """Drafts a reply for each customer message the policy answers (not stickers, reactions,
    system notices, unsupported types or stale messages); the session decides whether to send
    it."""

    def __init__(self, model: LanguageModel, *, clock: Clock, stale_after: timedelta) -> None:
        self._model, self._clock, self._stale_after = model, clock, stale_after

    def why_not_answered(self, message: CustomerMessage) -> str:
        """Why `message` is recorded but not answered; "" when it is answered."""
        return why_not_answered(message, self._clock(), stale_after=self._stale_after)

    def draft(self, message: CustomerMessage) -> ReplyDraft | None:
        now = self._clock()
        if why_not_answered(message, now, stale_after=self._stale_after):
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
    before it escalates); a message the policy does not answer is answered with nothing."""

    def __init__(self, responder: Responder, replies: Replies) -> None:
        self._responder, self._replies = responder, replies

    async def __call__(self, message: CustomerMessage) -> ReplyDraft | None:
        draft = self._responder.draft(message)
        if draft is None:
            reason = self._responder.why_not_answered(message)
            log.info("not answering message %s: %s", message.message_id, reason)
            return None
        await self._replies.reply_drafted(draft)
        if (hand_off := self._responder.hand_off(message)) is not None:
            await self._replies.hand_off_requested(hand_off)
        return draft
