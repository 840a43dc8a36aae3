"""What becomes of an outbound message: the Graph API names it (a wamid) or refuses it, then
WhatsApp reports its statuses — which may come late, repeated, out of order, or before the
dispatch result that names the message (held until then)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from threadline.session.domain.conversation_state import ConversationState
from threadline.session.domain.message_state import (
    FAILED,
    HeldStatus,
    moves_forward,
    status_rank,
)


class MessageDelivery(ConversationState):
    """Dispatch results and status reports of the messages the business sent."""

    class OutboundMessageDispatched(Aggregate.Event):
        message_id: UUID
        wamid: str
        trace: str

        def apply(self, aggregate: ConversationState) -> None:
            message_id = str(self.message_id)
            aggregate.messages[message_id] = aggregate.messages[message_id].named(self.wamid)
            aggregate.message_ids_by_wamid[self.wamid] = message_id
            aggregate.early_statuses.pop(self.wamid, None)

    class OutboundMessageDispatchFailed(Aggregate.Event):
        message_id: UUID
        code: int
        title: str
        detail: str
        trace: str

        def apply(self, aggregate: ConversationState) -> None:
            message_id = str(self.message_id)
            aggregate.messages[message_id] = aggregate.messages[message_id].with_status(FAILED)

    class MessageStatusChanged(Aggregate.Event):
        message_id: UUID
        wamid: str
        status: str
        reported_at: datetime
        pricing: dict[str, Any]
        errors: list[dict[str, Any]]
        trace: str

        def apply(self, aggregate: ConversationState) -> None:
            message_id = str(self.message_id)
            state = aggregate.messages[message_id]
            aggregate.messages[message_id] = state.with_status(self.status).reporting(self.status)

    class LateStatusRecorded(Aggregate.Event):
        message_id: UUID
        wamid: str
        status: str
        reported_at: datetime
        pricing: dict[str, Any]
        errors: list[dict[str, Any]]

        def apply(self, aggregate: ConversationState) -> None:
            message_id = str(self.message_id)
            aggregate.messages[message_id] = aggregate.messages[message_id].reporting(self.status)

    class EarlyStatusHeld(Aggregate.Event):
        wamid: str
        status: str
        reported_at: datetime
        pricing: dict[str, Any]
        errors: list[dict[str, Any]]

        def apply(self, aggregate: ConversationState) -> None:
            held = HeldStatus(self.status, self.reported_at, self.pricing, self.errors)
            aggregate.early_statuses[self.wamid] = [
                *aggregate.early_statuses.get(self.wamid, ()),
                held,
            ]

    def record_dispatch(self, *, message_id: UUID, wamid: str, trace: str = "") -> bool:
        """The Graph API accepted the message and named it `wamid`; statuses held for that
        wamid are applied now, in their forward order."""
        state = self.messages.get(str(message_id))
        if state is None or state.wamid:
            return False
        held = self.early_statuses.get(wamid, ())
        self.trigger_event(
            self.OutboundMessageDispatched, message_id=message_id, wamid=wamid, trace=trace
        )
        for report in sorted(held, key=lambda r: status_rank(r.status)):
            self.report_status(
                wamid=wamid,
                status=report.status,
                reported_at=report.reported_at,
                pricing=report.pricing,
                errors=report.errors,
                trace=trace,
            )
        return True

    def record_dispatch_failure(
        self, *, message_id: UUID, code: int, title: str, detail: str, trace: str = ""
    ) -> bool:
        state = self.messages.get(str(message_id))
        if state is None or not moves_forward(state.status, FAILED):
            return False
        self.trigger_event(
            self.OutboundMessageDispatchFailed,
            message_id=message_id,
            code=code,
            title=title,
            detail=detail,
            trace=trace,
        )
        return True

    def report_status(
        self,
        *,
        wamid: str,
        status: str,
        reported_at: datetime,
        pricing: dict[str, Any] | None = None,
        errors: list[dict[str, Any]] | None = None,
        trace: str = "",
    ) -> bool:
        """Apply a status webhook. A forward move changes the message; a late, repeated or
        out-of-order one is recorded once but never moves it back."""
        message_id = self.message_ids_by_wamid.get(wamid)
        state = self.messages.get(message_id) if message_id is not None else None
        if message_id is None or state is None or not state.is_outbound:
            # Statuses are about messages the business sent; one naming a customer's message
            # or a reaction, edit or revoke (found by make fuzz: KeyError) changes nothing.
            return False
        report: dict[str, Any] = {
            "message_id": UUID(message_id),
            "wamid": wamid,
            "status": status,
            "reported_at": reported_at,
            "pricing": pricing or {},
            "errors": errors or [],
        }
        if moves_forward(state.status, status):
            self.trigger_event(self.MessageStatusChanged, **report, trace=trace)
            return True
        if state.has_reported(status):
            return False
        self.trigger_event(self.LateStatusRecorded, **report)
        return True

    def awaits_dispatch(self) -> bool:
        """Some outbound message has been queued but the Graph API has not yet named it."""
        return any(m.awaits_dispatch for m in self.messages.values())

    def hold_early_status(
        self,
        *,
        wamid: str,
        status: str,
        reported_at: datetime,
        pricing: dict[str, Any] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> bool:
        """Keep a status that overtook its dispatch result; applied when the wamid is known."""
        if any(r.status == status for r in self.early_statuses.get(wamid, ())):
            return False
        self.trigger_event(
            self.EarlyStatusHeld,
            wamid=wamid,
            status=status,
            reported_at=reported_at,
            pricing=pricing or {},
            errors=errors or [],
        )
        return True
