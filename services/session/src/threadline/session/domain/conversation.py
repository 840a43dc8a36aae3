"""One session of messages between a customer and a business number."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from threadline.session.domain.errors import InvalidMessage, WindowClosed
from threadline.session.domain.statuses import moves_forward, status_rank
from threadline.session.domain.window import window_closes_at, window_is_open

AUTHORS = frozenset({"ai", "agent", "flow"})
MessageState = dict[str, str]


class Conversation(Aggregate):
    """Messages in and out, their statuses, and the customer service window.

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
    ) -> None:
        self.contact_id = contact_id
        self.phone_number_id = phone_number_id
        self.customer_wa_id = customer_wa_id
        self.customer_user_id = customer_user_id
        self.customer_name = customer_name
        self.session_key = session_key
        self.channel = channel
        self.status = "active"
        self.last_inbound_at: datetime | None = None
        self.messages: dict[str, MessageState] = {}
        self.message_ids_by_wamid: dict[str, str] = {}
        self.early_statuses: dict[str, list[dict[str, Any]]] = {}

    # Customer messages ---------------------------------------------------------------

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
    ) -> bool:
        """Record a customer's message; False when it was already recorded."""
        if wamid in self.message_ids_by_wamid:
            return False
        self._receive(message_id, wamid, content, sent_at, context_wamid, metadata or {}, trace)
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
        trace: str,
    ) -> None:
        self.messages[str(message_id)] = {"direction": "in", "wamid": wamid, "status": "received"}
        self.message_ids_by_wamid[wamid] = str(message_id)
        if self.last_inbound_at is None or sent_at > self.last_inbound_at:
            self.last_inbound_at = sent_at

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
    ) -> bool:
        """Accept a reply for sending; False when this message id was already queued."""
        if str(message_id) in self.messages:
            return False
        self.check_outbound(author, content, now)
        self._queue(
            message_id,
            author,
            content,
            in_reply_to,
            self.phone_number_id,
            self.customer_wa_id,
            self.customer_user_id,
            trace,
        )
        return True

    def check_outbound(self, author: str, content: dict[str, str], now: datetime) -> None:
        if author not in AUTHORS:
            raise InvalidMessage(f"author must be one of {sorted(AUTHORS)}, got {author!r}")
        if not content.get("type"):
            raise InvalidMessage("an outbound message needs a type")
        if content["type"] == "text" and not content.get("text", "").strip():
            raise InvalidMessage("a text message needs a non-empty text")
        if content["type"] != "template" and not window_is_open(self.last_inbound_at, now):
            raise WindowClosed(window_closes_at(self.last_inbound_at))

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
        trace: str,
    ) -> None:
        # The sender and recipient travel with the event so outbound needs nothing else.
        self.messages[str(message_id)] = {"direction": "out", "wamid": "", "status": "queued"}

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

    @event("OutboundMessageFailed")
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
        """Apply a status webhook; only forward moves change anything."""
        message_id = self.message_ids_by_wamid.get(wamid)
        if message_id is None or not moves_forward(self.messages[message_id]["status"], status):
            return False
        self._status_changed(
            UUID(message_id), wamid, status, reported_at, pricing or {}, errors or [], trace
        )
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

    def knows(self, wamid: str) -> bool:
        return wamid in self.message_ids_by_wamid

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

    @event("StatusReportedEarly")
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
