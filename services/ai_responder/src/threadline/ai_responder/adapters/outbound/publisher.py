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
        self._reply_drafted = topology.publish_subject(REPLY_DRAFTED)
        self._hand_off_requested = topology.publish_subject(HAND_OFF_REQUESTED)
        self._generation_discarded = topology.publish_subject(GENERATION_DISCARDED)

    async def reply_drafted(self, draft: ReplyDraft) -> None:
        await self._bus.publish(self._reply_drafted, reply_drafted(draft), msg_id=draft.draft_id)

    async def hand_off_requested(self, request: HandOffRequest) -> None:
        await self._bus.publish(
            self._hand_off_requested, hand_off_requested(request), msg_id=request.request_id
        )

    async def generation_discarded(self, discarded: DiscardedGeneration) -> None:
        await self._bus.publish(
            self._generation_discarded,
            generation_discarded(discarded),
            msg_id=discarded.generation_id,
        )


class JetStreamFlowSteps:
    """`FlowSteps` over an `EventBus`: where each conversation's flow is, for the session."""

    def __init__(self, bus: EventBus, topology: Topology) -> None:
        self._bus = bus
        self._subject = topology.publish_subject(FLOW_STEP_REACHED)

    async def step_reached(self, step: FlowStep) -> None:
        await self._bus.publish(self._subject, flow_step_reached(step), msg_id=step.event_id)
