"""The answers on AI_EVENTS: `ReplyDrafted`, `HandOffRequested`, `GenerationDiscarded` and a
flow's `FlowStepReached`, each under its own id."""

from __future__ import annotations

from threadline.ai_responder.adapters.integration_events import (
    flow_step_reached,
    generation_discarded,
    hand_off_requested,
    reply_drafted,
)
from threadline.ai_responder.application.flow_running import FlowStep
from threadline.ai_responder.domain.answers import DiscardedGeneration, HandOffRequest, ReplyDraft
from threadline.messaging.bus import EventBus
from threadline.messaging.topology import (
    FLOW_STEP_REACHED,
    GENERATION_DISCARDED,
    HAND_OFF_REQUESTED,
    REPLY_DRAFTED,
    Topology,
)


class JetStreamReplies:
    """`Replies` over an `EventBus`; the ids make a redelivered message's answers one each."""

    def __init__(self, bus: EventBus, topology: Topology) -> None:
        self._bus = bus
        self._topology = topology

    async def reply_drafted(self, draft: ReplyDraft) -> None:
        subject = self._topology.conversation_subject(REPLY_DRAFTED, draft.conversation_id)
        await self._bus.publish(subject, reply_drafted(draft), msg_id=draft.draft_id)

    async def hand_off_requested(self, request: HandOffRequest) -> None:
        subject = self._topology.conversation_subject(HAND_OFF_REQUESTED, request.conversation_id)
        await self._bus.publish(subject, hand_off_requested(request), msg_id=request.request_id)

    async def generation_discarded(self, discarded: DiscardedGeneration) -> None:
        await self._bus.publish(
            self._topology.conversation_subject(GENERATION_DISCARDED, discarded.conversation_id),
            generation_discarded(discarded),
            msg_id=discarded.generation_id,
        )


class JetStreamFlowSteps:
    """`FlowSteps` over an `EventBus`: where each conversation's flow is, for the session."""

    def __init__(self, bus: EventBus, topology: Topology) -> None:
        self._bus = bus
        self._topology = topology

    async def step_reached(self, step: FlowStep) -> None:
        subject = self._topology.conversation_subject(FLOW_STEP_REACHED, step.conversation_id)
        await self._bus.publish(subject, flow_step_reached(step), msg_id=step.event_id)
