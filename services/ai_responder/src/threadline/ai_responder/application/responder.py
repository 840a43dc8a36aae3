"""Use case: a customer message arrives → maybe a drafted reply, maybe a hand-off.

A customer asking for a person in so many words is handed off without asking the model (the
cheap first path). Otherwise the model answers through its tools: `reply` (a WhatsApp format,
repaired to WhatsApp's limits), `hand_off` (with a reason the operator reads), or both (the
reply first). Plain text without a tool call is a text reply. A model that cannot answer hands
the conversation off with the reason: never a silent drop, never two replies.

The model reads the message in its conversation's history (within the context budget); when the
history cannot be read, it reads the message alone (logged, not a reason to hand off)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Final

from threadline.ai_responder.application.model_request import (
    DEFAULT_MAX_CONTEXT_TOKENS,
    model_request,
)
from threadline.ai_responder.application.ports import (
    NO_HISTORY,
    AssistantModel,
    ConversationHistory,
    History,
    HistoryUnavailable,
    ModelAnswer,
    ModelError,
    ModelRefused,
    NoConversationHistory,
    Replies,
)
from threadline.ai_responder.domain.answers import NO_USAGE, Answer, HandOffRequest, ReplyDraft
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.policy import wants_a_person, why_not_answered
from threadline.ai_responder.domain.reply_format import TextReply, repair, shorten
from threadline.servicekit.clock import Clock

log = logging.getLogger(__name__)

# The keyword path's reply is written by the platform, not by a model; its drafts say so.
KEYWORD_MODEL: Final = "threadline:keyword-hand-off"
REASON_LIMIT: Final = 500
NO_REASON: Final = "the assistant handed the conversation off without saying why"


class Responder:
    """Answers each customer message the policy answers (not stickers, reactions, system
    notices, unsupported types or stale messages); the session decides what is sent."""

    def __init__(
        self,
        model: AssistantModel,
        *,
        clock: Clock,
        stale_after: timedelta,
        system_prompt: str = "",
        history: ConversationHistory | None = None,
        max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
    ) -> None:
        self._model, self._clock, self._stale_after = model, clock, stale_after
        self._system_prompt = system_prompt
        self._history = history if history is not None else NoConversationHistory()
        self._max_context_tokens = max_context_tokens

    def why_not_answered(self, message: CustomerMessage) -> str:
        """Why `message` is recorded but not answered; "" when it is answered."""
        return why_not_answered(message, self._clock(), stale_after=self._stale_after)

    async def answer(self, message: CustomerMessage) -> Answer | None:
        """The answer to `message`; None when the policy does not answer it."""
        if self.why_not_answered(message):
            return None
        if wants_a_person(message):
            return self._keyword_hand_off(message)
        request = model_request(
            message,
            business_prompt=self._system_prompt,
            history=await self._read_history(message),
            max_context_tokens=self._max_context_tokens,
        )
        try:
            answer = await self._model.generate(request)
        except ModelError as error:
            refused = " refused the request" if isinstance(error, ModelRefused) else ""
            reason = f"the assistant is unavailable ({error.model}{refused}): {error.reason}"
            log.warning("handing off message %s: %s", message.message_id, reason)
            return Answer(hand_off=self._hand_off(message, reason))
        return self._read(message, answer, at=self._clock())

    async def _read_history(self, message: CustomerMessage) -> History:
        try:
            return await self._history.read(message.conversation_id)
        except HistoryUnavailable as error:
            log.warning(
                "answering message %s without its conversation's history: %s",
                message.message_id,
                error,
            )
            return NO_HISTORY

    def _keyword_hand_off(self, message: CustomerMessage) -> Answer:
        first_name = message.customer_name.split(" ")[0]
        greeting = f"Of course, {first_name}." if first_name else "Of course."
        text = f"{greeting} A member of our team will take it from here."
        now = self._clock()
        draft = ReplyDraft.answering(
            message,
            reply=TextReply(text),
            model=KEYWORD_MODEL,
            usage=NO_USAGE,
            latency_seconds=0.0,
            at=now,
        )
        return Answer(draft=draft, hand_off=HandOffRequest.after(message, at=now))

    def _read(self, message: CustomerMessage, answer: ModelAnswer, *, at: datetime) -> Answer:
        replies = [call.arguments for call in answer.tool_calls if call.name == "reply"]
        hand_offs = [call.arguments for call in answer.tool_calls if call.name == "hand_off"]
        if unknown := {c.name for c in answer.tool_calls} - {"reply", "hand_off"}:
            log.warning("model %s called unknown tools %s", answer.model, sorted(unknown))
        if len(replies) > 1:
            log.warning(
                "model %s drafted %d replies; only the first is kept", answer.model, len(replies)
            )
        arguments: Mapping[str, object] | None = replies[0] if replies else None
        if arguments is None and not hand_offs and answer.text.strip():
            arguments = {"kind": "text", "text": answer.text}
        draft = None
        if arguments is not None:
            draft = ReplyDraft.answering(
                message,
                reply=repair(arguments),
                model=answer.model,
                usage=answer.usage,
                latency_seconds=answer.latency_seconds,
                at=at,
            )
        hand_off = None
        if hand_offs:
            hand_off = self._hand_off(message, _reason(hand_offs[0]) or NO_REASON)
        elif draft is None:
            hand_off = self._hand_off(
                message, f"the assistant ({answer.model}) gave an empty answer"
            )
        return Answer(draft=draft, hand_off=hand_off)

    def _hand_off(self, message: CustomerMessage, reason: str) -> HandOffRequest:
        return HandOffRequest.after(message, at=self._clock(), reason=shorten(reason, REASON_LIMIT))


def _reason(arguments: Mapping[str, object]) -> str:
    reason = arguments.get("reason")
    return shorten(reason.strip(), REASON_LIMIT) if isinstance(reason, str) else ""


class AnswerCustomerMessage:
    """Answer, hand the draft on, and only then the hand-off (so the session queues the reply
    before it escalates); a message the policy does not answer is answered with nothing."""

    def __init__(self, responder: Responder, replies: Replies) -> None:
        self._responder, self._replies = responder, replies

    async def __call__(self, message: CustomerMessage) -> Answer | None:
        answer = await self._responder.answer(message)
        if answer is None:
            reason = self._responder.why_not_answered(message)
            log.info("not answering message %s: %s", message.message_id, reason)
            return None
        if answer.draft is not None:
            await self._replies.reply_drafted(answer.draft)
        if answer.hand_off is not None:
            log.info(
                "handing off conversation %s: %s", message.conversation_id, answer.hand_off.reason
            )
            await self._replies.hand_off_requested(answer.hand_off)
        return answer
