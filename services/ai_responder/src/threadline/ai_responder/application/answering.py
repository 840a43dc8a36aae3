"""Use case: a burst of customer messages is due → one answer, or none.

`AnswerBursts` is what the burst scheduler calls: `answer` generates (no model call at all when
a person has the conversation or the number's autopilot is off), `deliver` hands a current
generation on (unless a person took the conversation over meanwhile), `discard` records what a
superseded generation cost. A burst waits (up to `TRANSCRIPT_WAIT`) for its voice notes'
transcripts and its images' keeping; a model that sees is then shown the burst's images
(application/seeing.py). While generating, the customer sees the read receipt and the typing
indicator (best effort: a failure to show them never stops the answer). A conversation's flow
takes the burst before the model does (application/flow_running.py); what it did is delivered,
and kept, with the generation."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final, Protocol

from threadline.ai_responder.application.bursts import NotReady
from threadline.ai_responder.application.flow_running import FlowSteps, FlowTurn, RunFlows
from threadline.ai_responder.application.ports import AssistantModel, Replies
from threadline.ai_responder.application.responder import Responder
from threadline.ai_responder.application.seeing import NO_SIGHT, SeeImages
from threadline.ai_responder.application.view_ports import (
    EARLIER_CONVERSATIONS,
    TRANSCRIPT_WAIT_SECONDS,
    VOICE_UNHEARD,
    ConversationView,
    ConversationViews,
    history_of,
)
from threadline.ai_responder.domain.answers import Answer, DiscardedGeneration, ReplyDraft
from threadline.ai_responder.domain.burst import Burst
from threadline.ai_responder.domain.directory import Directory
from threadline.ai_responder.domain.quoting import quoted_message_id
from threadline.servicekit.clock import Clock

log = logging.getLogger(__name__)

# How long an answer waits for the directory to be read after a start, before it answers with
# what it has (the default assistant for numbers it does not know yet).
DIRECTORY_PATIENCE: Final = timedelta(seconds=10)
TRANSCRIPT_WAIT: Final = timedelta(seconds=TRANSCRIPT_WAIT_SECONDS)


class TypingIndicator(Protocol):
    async def show_typing(
        self,
        *,
        request_id: str,
        conversation_id: str,
        phone_number_id: str,
        wamid: str,
        at: datetime,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Generation:
    """What answering a burst produced: an answer, or why there is none."""

    answer: Answer | None
    why_none: str = ""
    # What the conversation's flow did with the burst (application/flow_running.py): its
    # replies instead of the model's, or the flow ended and the model answers too.
    flow: FlowTurn | None = None


class AnswerBursts:
    def __init__(
        self,
        responder: Responder,
        *,
        views: ConversationViews,
        directory: Directory,
        models: Callable[[str], AssistantModel],
        replies: Replies,
        clock: Clock,
        directory_read: Callable[[timedelta], Awaitable[bool]],
        typing: TypingIndicator | None = None,
        seeing: SeeImages | None = None,
        flows: RunFlows | None = None,
        flow_steps: FlowSteps | None = None,
    ) -> None:
        self._responder = responder
        self._views = views
        self._directory = directory
        self._models = models
        self._replies = replies
        self._clock = clock
        self._directory_read = directory_read
        self._typing = typing
        self._seeing = seeing
        self._flows = flows
        self._flow_steps = flow_steps

    async def answer(self, burst: Burst) -> Generation:
        view = await self._views.conversation(burst.conversation_id)
        if view is None:
            return Generation(None, "the conversation is not in the view")
        messages = [
            message
            for message_id in burst.message_ids
            if (message := view.customer_message(message_id)) is not None
        ]
        if not messages:
            return Generation(None, "none of the burst's messages is in the view")
        if view.ai_paused:
            return Generation(None, "a person has the conversation")
        waiting_images = view.awaiting_attachments(burst.message_ids)
        if view.awaiting_transcripts(burst.message_ids) or waiting_images:
            waited = self._clock() - (burst.first_at or self._clock())
            if waited < TRANSCRIPT_WAIT:
                raise NotReady("a voice note's transcript or an image is on its way")
        if view.awaiting_transcripts(burst.message_ids):
            log.warning(
                "answering %s without a transcript that did not come", burst.conversation_id
            )
            messages = [
                replace(m, type=VOICE_UNHEARD, text="")
                if view.awaiting_transcripts((m.message_id,))
                else m
                for m in messages
            ]
        if not await self._directory_read(DIRECTORY_PATIENCE):
            log.warning("answering %s before every assistant was read", view.conversation_id)
        if not self._directory.autopilot(view.business_number):
            return Generation(None, f"the autopilot of {view.business_number} is off")
        assistant = self._directory.assistant_for(view.business_number)
        await self._show_typing(burst, view.business_number, view.wamid_of(messages[-1].message_id))
        if waiting_images:
            log.warning("answering %s without an image that was not kept", burst.conversation_id)
        model = self._models(assistant.model)
        turn = None
        if self._flows is not None:
            turn = await self._flows.take(messages, view=view, assistant=assistant, model=model)
            if turn is not None and not turn.model_answers:
                return Generation(None, flow=turn)
        earlier = await self._views.earlier(view, limit=EARLIER_CONVERSATIONS)
        sight = NO_SIGHT
        if self._seeing is not None:
            sight = await self._seeing.look(messages, model=model.name)
        answer = await self._responder.answer_burst(
            messages,
            history=history_of(view, earlier),
            assistant=assistant,
            model=model,
            sight=sight,
            generation_id=(
                f"{burst.conversation_id}-{burst.claim.generation if burst.claim else 0}"
            ),
            flows=self._flows.startable(view.business_number) if self._flows else (),
        )
        if answer.start_flow and turn is None and self._flows is not None:
            turn = await self._flows.start(
                answer.start_flow, messages, view=view, assistant=assistant, model=model
            )
        return Generation(answer, flow=turn)

    async def deliver(self, burst: Burst, generation: Generation) -> None:
        answer = generation.answer
        if answer is None and generation.flow is None:
            log.info("not answering %s: %s", burst.conversation_id, generation.why_none)
            return
        view = await self._views.conversation(burst.conversation_id)
        if view is not None and view.ai_paused:
            log.info("a person took %s over while answering: not sent", burst.conversation_id)
            await self.discard(burst, generation)
            return
        # The model's reply first (it may have started the flow), then the flow's.
        if answer is not None and answer.draft is not None:
            await self._replies.reply_drafted(quoting(answer.draft, view))
        if generation.flow is not None:
            await self.publish_flow(generation.flow)
            if self._flows is not None and not await self._flows.keep(generation.flow):
                log.warning("the flow of %s changed while answering", burst.conversation_id)
        if answer is not None and answer.hand_off is not None:
            log.info("handing off %s: %s", burst.conversation_id, answer.hand_off.reason)
            await self._replies.hand_off_requested(answer.hand_off)

    async def publish_flow(self, turn: FlowTurn) -> None:
        """The flow's replies, then its hand-off, then where it is, to the session."""
        for draft in turn.drafts:
            await self._replies.reply_drafted(draft)
        if turn.hand_off is not None:
            log.info("handing off %s: %s", turn.flow.conversation_id, turn.hand_off.reason)
            await self._replies.hand_off_requested(turn.hand_off)
        if self._flow_steps is not None:
            await self._flow_steps.step_reached(turn.step)

    async def discard(self, burst: Burst, generation: Generation) -> None:
        producer = generation.answer.producer if generation.answer is not None else None
        if producer is None:  # no model was paid for it
            return
        claim = burst.claim
        await self._replies.generation_discarded(
            DiscardedGeneration(
                generation_id=(
                    f"discarded-{burst.conversation_id}-{claim.generation if claim else 0}"
                ),
                conversation_id=burst.conversation_id,
                producer=producer,
                covered_message_ids=burst.message_ids,
                discarded_at=self._clock(),
            )
        )

    async def _show_typing(self, burst: Burst, business_number: str, wamid: str) -> None:
        if self._typing is None or not wamid or not business_number:
            return
        claim = burst.claim
        try:
            await self._typing.show_typing(
                request_id=f"typing-{burst.conversation_id}-{claim.generation if claim else 0}",
                conversation_id=burst.conversation_id,
                phone_number_id=business_number,
                wamid=wamid,
                at=self._clock(),
            )
        except Exception as error:
            log.warning("could not show %s the typing indicator: %s", burst.conversation_id, error)


def quoting(draft: ReplyDraft, view: ConversationView | None) -> ReplyDraft:
    """The draft quoting the message it answers when the conversation, as it is when the
    draft goes out, says it should (domain/quoting.py)."""
    if view is None:
        return draft
    said = [message.message_id for message in view.messages]
    quoted = quoted_message_id(draft.in_reply_to_message_id, said)
    return replace(draft, quoted_message_id=quoted) if quoted else draft
