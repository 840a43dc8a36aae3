"""One session of messages between a customer and a business number."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import register_topic

from threadline.servicekit.errors import quoted
from threadline.session.domain.business_number import Template
from threadline.session.domain.errors import InvalidMessage, InvalidTransition, WindowClosed
from threadline.session.domain.lifecycle import (
    ACTIVE,
    CLOSED,
    ESCALATED,
    check_transition,
    resolution_status,
)
from threadline.session.domain.statuses import moves_forward, status_rank
from threadline.session.domain.templates import check_template_parameters
from threadline.session.domain.window import later, window_closes_at

AUTHORS = frozenset({"ai", "agent", "flow"})
FREE_ENTRY_WINDOW = timedelta(hours=72)
MessageState = dict[str, str]


class Conversation(Aggregate):
    """Messages in and out, their statuses, the customer service window and who answers.

    Every command is idempotent: a message id, wamid or status already recorded changes nothing,
    so a redelivered fact or a retried request is a no-op.
    """

    @event("Started")
    def __init__(
        self,
        contact_id: UUID,
        phone_number_id: str,
        customer_wa_id: str,
        customer_user_id: str,
        customer_name: str,
        session_key: str,
        channel: str = "whatsapp",
        opened_by: str = "customer",
        category: str = "SERVICE",
    ) -> None:
        self.contact_id = contact_id
        self.phone_number_id = phone_number_id
        self.customer_wa_id = customer_wa_id
        self.customer_user_id = customer_user_id
        self.customer_name = customer_name
        self.session_key = session_key
        self.channel = channel
        self.opened_by = opened_by
        self.category = category
        self.status = ACTIVE
        self.ai_paused = False
        self.last_inbound_at: datetime | None = None
        self.free_entry_until: datetime | None = None
        self.last_activity_at: datetime | None = None
        self.flow: dict[str, Any] | None = None
        self.messages: dict[str, MessageState] = {}
        self.message_ids_by_wamid: dict[str, str] = {}
        self.early_statuses: dict[str, list[dict[str, Any]]] = {}

    # Lifecycle -----------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED

    def window_closes_at(self) -> datetime | None:
        regular = window_closes_at(self.last_inbound_at)
        candidates = [t for t in (regular, self.free_entry_until) if t is not None]
        return max(candidates) if candidates else None

    def window_is_open(self, now: datetime) -> bool:
        closes = self.window_closes_at()
        return closes is not None and now < closes

    def change_status(self, status: str, *, reason: str = "", by: str = "agent") -> bool:
        """An operator moves the conversation; False when it already has that status."""
        if status == self.status:
            return False
        check_transition(self.status, status)
        self._status_set(status, reason, by)
        return True

    @event("StatusChanged")
    def _status_set(self, status: str, reason: str, by: str) -> None:
        self.status = status
        self.ai_paused = status == ESCALATED

    def hand_off(self, *, reason: str, by: str) -> bool:
        """A human takes over: escalated, and the assistant stops answering."""
        if self.status == ESCALATED and self.ai_paused:
            return False
        check_transition(self.status, ESCALATED)
        self._handed_off(reason, by)
        return True

    @event("HandedOff")
    def _handed_off(self, reason: str, by: str) -> None:
        self.status = ESCALATED
        self.ai_paused = True

    def resume_autopilot(self, *, by: str) -> bool:
        """The assistant answers again; the conversation is active again."""
        if not self.ai_paused and self.status == ACTIVE:
            return False
        if not self.is_open:
            raise InvalidTransition(f"a {self.status} conversation cannot be resumed")
        self._autopilot_resumed(by)
        return True

    @event("AutopilotResumed")
    def _autopilot_resumed(self, by: str) -> None:
        self.status = ACTIVE
        self.ai_paused = False

    def auto_resolve(self, *, now: datetime, after: timedelta) -> bool:
        """Close an idle conversation: completed, or abandoned when a flow was left unfinished."""
        if not self.is_open or self.last_activity_at is None:
            return False
        if now - self.last_activity_at < after:
            return False
        unfinished_flow = self.flow is not None and not self.flow["completed"]
        self._auto_resolved(
            resolution_status(unfinished_flow=unfinished_flow), self.last_activity_at
        )
        return True

    @event("AutoResolved")
    def _auto_resolved(self, status: str, idle_since: datetime) -> None:
        self.status = status
        self.ai_paused = False

    def record_flow_step(
        self, *, flow_id: str, step_id: str, data: dict[str, Any], completed: bool
    ) -> bool:
        current = self.flow or {}
        if (
            current.get("flow_id"),
            current.get("step_id"),
            current.get("data"),
            current.get("completed"),
        ) == (flow_id, step_id, data, completed):
            return False
        self._flow_step(flow_id, step_id, data, completed)
        return True

    @event("FlowStepReached")
    def _flow_step(self, flow_id: str, step_id: str, data: dict[str, Any], completed: bool) -> None:
        self.flow = {"flow_id": flow_id, "step_id": step_id, "data": data, "completed": completed}

    # Customer messages ---------------------------------------------------------------

    def learn_customer_identity(self, *, wa_id: str, user_id: str) -> bool:
        """The contact became known by another id: replies use the phone number once known."""
        if (wa_id or self.customer_wa_id, user_id or self.customer_user_id) == (
            self.customer_wa_id,
            self.customer_user_id,
        ):
            return False
        self._identity_learned(wa_id or self.customer_wa_id, user_id or self.customer_user_id)
        return True

    @event("CustomerIdentityLearned")
    def _identity_learned(self, wa_id: str, user_id: str) -> None:
        self.customer_wa_id = wa_id
        self.customer_user_id = user_id

    def knows(self, wamid: str) -> bool:
        return wamid in self.message_ids_by_wamid

    def receive_customer_message(
        self,
        *,
        message_id: UUID,
        wamid: str,
        content: dict[str, str],
        sent_at: datetime,
        context_wamid: str = "",
        metadata: dict[str, Any] | None = None,
        trace: str = "",
        free_entry: bool = False,
    ) -> bool:
        """Record a customer's message; False when it was already recorded."""
        if self.knows(wamid):
            return False
        self._receive(
            message_id, wamid, content, sent_at, context_wamid, metadata or {}, free_entry, trace
        )
        return True

    @event("CustomerMessageReceived")
    def _receive(
        self,
        message_id: UUID,
        wamid: str,
        content: dict[str, str],
        sent_at: datetime,
        context_wamid: str,
        metadata: dict[str, Any],
        free_entry: bool,
        trace: str,
    ) -> None:
        self.messages[str(message_id)] = {"direction": "in", "wamid": wamid, "status": "received"}
        self.message_ids_by_wamid[wamid] = str(message_id)
        if self.last_inbound_at is None or sent_at > self.last_inbound_at:
            self.last_inbound_at = sent_at
        if free_entry:
            self.free_entry_until = later(sent_at, FREE_ENTRY_WINDOW)
        self._touch(sent_at)

    def record_customer_change(
        self,
        *,
        message_id: UUID,
        wamid: str,
        kind: str,
        target_wamid: str,
        content: dict[str, str],
        sent_at: datetime,
        metadata: dict[str, Any],
        trace: str = "",
    ) -> bool:
        """An edit, a deletion (revoke) or a reaction (empty emoji: removed) to a message.

        The change is kept even when the message it names is unknown (sent before the platform
        saw this customer); `target_message_id` is then empty.
        """
        if self.knows(wamid):
            return False
        target = self.message_ids_by_wamid.get(target_wamid, "")
        self._customer_change(
            message_id, wamid, kind, target_wamid, target, content, sent_at, metadata, trace
        )
        return True

    @event("CustomerMessageChanged")
    def _customer_change(
        self,
        message_id: UUID,
        wamid: str,
        kind: str,
        target_wamid: str,
        target_message_id: str,
        content: dict[str, str],
        sent_at: datetime,
        metadata: dict[str, Any],
        trace: str,
    ) -> None:
        self.message_ids_by_wamid[wamid] = str(message_id)
        if kind == "revoke" and target_message_id:
            self.messages[target_message_id]["status"] = "deleted"
        self._touch(sent_at)

    # Outbound messages ---------------------------------------------------------------

    def queue_outbound(
        self,
        *,
        message_id: UUID,
        author: str,
        content: dict[str, str],
        now: datetime,
        in_reply_to: str = "",
        trace: str = "",
        template: Template | None = None,
        usable_templates: list[str] | None = None,
        model: str = "",
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> bool:
        """Accept a message for sending; False when this message id was already queued."""
        if str(message_id) in self.messages:
            return False
        self.check_outbound(
            author, content, now, template=template, usable_templates=usable_templates
        )
        self._queue(
            message_id,
            author,
            content,
            in_reply_to,
            self.phone_number_id,
            self.customer_wa_id,
            self.customer_user_id,
            now,
            model,
            prompt_tokens,
            completion_tokens,
            trace,
        )
        return True

    def check_outbound(
        self,
        author: str,
        content: dict[str, str],
        now: datetime,
        *,
        template: Template | None = None,
        usable_templates: list[str] | None = None,
    ) -> None:
        if author not in AUTHORS:
            raise InvalidMessage(f"author must be one of {sorted(AUTHORS)}, got {quoted(author)}")
        if not self.is_open:
            raise InvalidTransition(f"the conversation is {self.status}; nothing more is sent")
        kind = content.get("type", "")
        if not kind:
            raise InvalidMessage("an outbound message needs a type")
        if kind == "text" and not content.get("text", "").strip():
            raise InvalidMessage("a text message needs a non-empty text")
        if kind == "template":
            if template is None:
                raise InvalidMessage("a template message needs a registered template")
            check_template_parameters(template, content.get("payload_json", ""))
        elif not self.window_is_open(now):
            raise WindowClosed(self.window_closes_at(), usable_templates or [])

    @event("OutboundMessageQueued")
    def _queue(
        self,
        message_id: UUID,
        author: str,
        content: dict[str, str],
        in_reply_to: str,
        phone_number_id: str,
        recipient_wa_id: str,
        recipient_user_id: str,
        queued_at: datetime,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        trace: str,
    ) -> None:
        # The sender and recipient travel with the event so outbound needs nothing else.
        self.messages[str(message_id)] = {"direction": "out", "wamid": "", "status": "queued"}
        self._touch(queued_at)

    def record_dispatch(self, *, message_id: UUID, wamid: str, trace: str = "") -> bool:
        """The Graph API accepted the message and named it `wamid`."""
        state = self.messages.get(str(message_id))
        if state is None or state["wamid"]:
            return False
        held = self.early_statuses.get(wamid, [])
        self._dispatched(message_id, wamid, trace)
        for report in sorted(held, key=lambda r: status_rank(r["status"])):
            self.report_status(
                wamid=wamid,
                status=report["status"],
                reported_at=datetime.fromisoformat(report["reported_at"]),
                pricing=report["pricing"],
                errors=report["errors"],
                trace=trace,
            )
        return True

    @event("OutboundMessageDispatched")
    def _dispatched(self, message_id: UUID, wamid: str, trace: str) -> None:
        self.messages[str(message_id)]["wamid"] = wamid
        self.message_ids_by_wamid[wamid] = str(message_id)
        self.early_statuses.pop(wamid, None)

    def record_dispatch_failure(
        self, *, message_id: UUID, code: int, title: str, detail: str, trace: str = ""
    ) -> bool:
        state = self.messages.get(str(message_id))
        if state is None or not moves_forward(state["status"], "failed"):
            return False
        self._failed(message_id, code, title, detail, trace)
        return True

    @event("OutboundMessageDispatchFailed")
    def _failed(self, message_id: UUID, code: int, title: str, detail: str, trace: str) -> None:
        self.messages[str(message_id)]["status"] = "failed"

    # Statuses --------------------------------------------------------------------------

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
        if message_id is None or state is None or state["direction"] != "out":
            # Statuses are about messages the business sent; one naming a customer's message
            # or a reaction, edit or revoke (found by make fuzz: KeyError) changes nothing.
            return False
        if moves_forward(state["status"], status):
            self._status_changed(
                UUID(message_id), wamid, status, reported_at, pricing or {}, errors or [], trace
            )
            return True
        reported = state.get("reported", "").split(",")
        if status in reported or status == state["status"]:
            return False
        self._late_status(UUID(message_id), wamid, status, reported_at, pricing or {}, errors or [])
        return True

    @event("MessageStatusChanged")
    def _status_changed(
        self,
        message_id: UUID,
        wamid: str,
        status: str,
        reported_at: datetime,
        pricing: dict[str, Any],
        errors: list[dict[str, Any]],
        trace: str,
    ) -> None:
        self.messages[str(message_id)]["status"] = status
        self._remember_report(str(message_id), status)

    @event("LateStatusRecorded")
    def _late_status(
        self,
        message_id: UUID,
        wamid: str,
        status: str,
        reported_at: datetime,
        pricing: dict[str, Any],
        errors: list[dict[str, Any]],
    ) -> None:
        self._remember_report(str(message_id), status)

    def _remember_report(self, message_id: str, status: str) -> None:
        state = self.messages[message_id]
        state["reported"] = ",".join(filter(None, [state.get("reported", ""), status]))

    def awaits_dispatch(self) -> bool:
        """Some outbound message has been queued but the Graph API has not yet named it."""
        return any(
            m["direction"] == "out" and not m["wamid"] and m["status"] == "queued"
            for m in self.messages.values()
        )

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
        held = self.early_statuses.get(wamid, [])
        if any(r["status"] == status for r in held):
            return False
        self._held(wamid, status, reported_at, pricing or {}, errors or [])
        return True

    @event("EarlyStatusHeld")
    def _held(
        self,
        wamid: str,
        status: str,
        reported_at: datetime,
        pricing: dict[str, Any],
        errors: list[dict[str, Any]],
    ) -> None:
        self.early_statuses.setdefault(wamid, []).append(
            {
                "status": status,
                "reported_at": reported_at.isoformat(),
                "pricing": pricing,
                "errors": errors,
            }
        )

    def _touch(self, moment: datetime) -> None:
        if self.last_activity_at is None or moment > self.last_activity_at:
            self.last_activity_at = moment


# Events renamed after they were first stored. History is never rewritten: a stored event keeps
# its old topic, and the old topic resolves to the renamed class when it is read back.
RENAMED_EVENTS = {
    "FlowStepRecorded": "FlowStepReached",
    "OutboundMessageFailed": "OutboundMessageDispatchFailed",
    "StatusReportedEarly": "EarlyStatusHeld",
}
for _old, _new in RENAMED_EVENTS.items():
    register_topic(f"{__name__}:Conversation.{_old}", getattr(Conversation, _new))
