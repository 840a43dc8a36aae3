"""A conversation's lifecycle: its status, who answers (the assistant or a human), the flow the
assistant runs, and its resolution when idle."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate

from threadline.rules.lifecycle import ACTIVE, ESCALATED
from threadline.session.domain.conversation_state import ConversationState
from threadline.session.domain.errors import InvalidTransition
from threadline.session.domain.lifecycle import check_transition, idle, resolution_status


class ConversationLifecycle(ConversationState):
    """Status changes, hand-off and autopilot, flow steps, auto-resolution."""

    class StatusChanged(Aggregate.Event):
        status: str
        reason: str
        by: str

        def apply(self, aggregate: ConversationState) -> None:
            aggregate.status = self.status
            aggregate.ai_paused = self.status == ESCALATED

    class HandedOff(Aggregate.Event):
        reason: str
        by: str

        def apply(self, aggregate: ConversationState) -> None:
            aggregate.status = ESCALATED
            aggregate.ai_paused = True

    class AutopilotResumed(Aggregate.Event):
        by: str

        def apply(self, aggregate: ConversationState) -> None:
            aggregate.status = ACTIVE
            aggregate.ai_paused = False

    class AutoResolved(Aggregate.Event):
        status: str
        idle_since: datetime

        def apply(self, aggregate: ConversationState) -> None:
            aggregate.status = self.status
            aggregate.ai_paused = False

    class FlowStepReached(Aggregate.Event):
        flow_id: str
        step_id: str
        data: dict[str, Any]  # the data the flow collected so far, by field key
        completed: bool
        # Added with issue 12 item 3 (last, with defaults: events stored before them read back
        # with no expiry, no status and no version): when the flow ends unless the customer
        # answers, running/completed/handed_off/expired ("" before statuses), and the
        # FlowConfigured version the flow runs in.
        expires_at: datetime | None = None
        status: str = ""
        flow_version: int = 0

        def apply(self, aggregate: ConversationState) -> None:
            # A snapshot taken before issue 12 holds the first four keys only: readers `get`
            # the others.
            aggregate.flow = {
                "flow_id": self.flow_id,
                "step_id": self.step_id,
                "data": self.data,
                "completed": self.completed,
                "expires_at": self.expires_at,
                "status": self.status,
                "flow_version": self.flow_version,
            }

    def change_status(self, status: str, *, reason: str = "", by: str = "agent") -> bool:
        """An operator moves the conversation; False when it already has that status."""
        if status == self.status:
            return False
        check_transition(self.status, status)
        self.trigger_event(self.StatusChanged, status=status, reason=reason, by=by)
        return True

    def hand_off(self, *, reason: str, by: str) -> bool:
        """A human takes over: escalated, and the assistant stops answering."""
        if self.status == ESCALATED and self.ai_paused:
            return False
        check_transition(self.status, ESCALATED)
        self.trigger_event(self.HandedOff, reason=reason, by=by)
        return True

    def resume_autopilot(self, *, by: str) -> bool:
        """The assistant answers again; the conversation is active again."""
        if not self.ai_paused and self.status == ACTIVE:
            return False
        if not self.is_open:
            raise InvalidTransition(f"a {self.status} conversation cannot be resumed")
        self.trigger_event(self.AutopilotResumed, by=by)
        return True

    def auto_resolve(self, *, now: datetime, after: timedelta) -> bool:
        """Close an idle conversation: completed, or abandoned when a flow was left unfinished."""
        if not self.is_open or self.last_activity_at is None:
            return False
        if not idle(self.last_activity_at, now, after):
            return False
        unfinished_flow = self.flow is not None and not self.flow["completed"]
        self.trigger_event(
            self.AutoResolved,
            status=resolution_status(unfinished_flow=unfinished_flow),
            idle_since=self.last_activity_at,
        )
        return True

    def reach_flow_step(
        self,
        *,
        flow_id: str,
        step_id: str,
        data: dict[str, Any],
        completed: bool,
        expires_at: datetime | None = None,
        status: str = "",
        flow_version: int = 0,
    ) -> bool:
        """The assistant's flow reached a step; False when the conversation is already there."""
        current = self.flow or {}
        if (
            current.get("flow_id"),
            current.get("step_id"),
            current.get("data"),
            current.get("completed"),
            current.get("expires_at"),
            current.get("status", ""),
            current.get("flow_version", 0),
        ) == (flow_id, step_id, data, completed, expires_at, status, flow_version):
            return False
        self.trigger_event(
            self.FlowStepReached,
            flow_id=flow_id,
            step_id=step_id,
            data=data,
            completed=completed,
            expires_at=expires_at,
            status=status,
            flow_version=flow_version,
        )
        return True
