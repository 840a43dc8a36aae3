"""What the customer sends: messages (which open and renew the customer service window), and
edits, deletions and reactions to them; and the ids the customer becomes known by."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from threadline.rules.window import CustomerServiceWindow
from threadline.session.domain.conversation_state import ConversationState
from threadline.session.domain.message_state import DELETED, MessageState


class CustomerMessages(ConversationState):
    """The customer's messages and changes to them, and the customer's identity."""

    class CustomerIdentityLearned(Aggregate.Event):
        wa_id: str
        user_id: str

        def apply(self, aggregate: ConversationState) -> None:
            aggregate.customer_wa_id = self.wa_id
            aggregate.customer_user_id = self.user_id

    class CustomerMessageReceived(Aggregate.Event):
        message_id: UUID
        wamid: str
        content: dict[str, str]
        sent_at: datetime
        context_wamid: str
        metadata: dict[str, Any]
        free_entry: bool
        trace: str

        def apply(self, aggregate: ConversationState) -> None:
            aggregate.messages[str(self.message_id)] = MessageState.received(self.wamid)
            aggregate.message_ids_by_wamid[self.wamid] = str(self.message_id)
            if aggregate.last_inbound_at is None or self.sent_at > aggregate.last_inbound_at:
                aggregate.last_inbound_at = self.sent_at
            if self.free_entry:
                aggregate.free_entry_until = CustomerServiceWindow.free_entry_closes_at(
                    self.sent_at
                )
            aggregate.touch(self.sent_at)

    class CustomerMessageChanged(Aggregate.Event):
        message_id: UUID
        wamid: str
        kind: str
        target_wamid: str
        target_message_id: str
        content: dict[str, str]
        sent_at: datetime
        metadata: dict[str, Any]
        trace: str

        def apply(self, aggregate: ConversationState) -> None:
            aggregate.message_ids_by_wamid[self.wamid] = str(self.message_id)
            if self.kind == "revoke" and self.target_message_id:
                target = aggregate.messages[self.target_message_id]
                aggregate.messages[self.target_message_id] = target.with_status(DELETED)
            aggregate.touch(self.sent_at)

    def learn_customer_identity(self, *, wa_id: str, user_id: str) -> bool:
        """The contact became known by another id: replies use the phone number once known."""
        learned = (wa_id or self.customer_wa_id, user_id or self.customer_user_id)
        if learned == (self.customer_wa_id, self.customer_user_id):
            return False
        self.trigger_event(self.CustomerIdentityLearned, wa_id=learned[0], user_id=learned[1])
        return True

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
        self.trigger_event(
            self.CustomerMessageReceived,
            message_id=message_id,
            wamid=wamid,
            content=content,
            sent_at=sent_at,
            context_wamid=context_wamid,
            metadata=metadata or {},
            free_entry=free_entry,
            trace=trace,
        )
        return True

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
        self.trigger_event(
            self.CustomerMessageChanged,
            message_id=message_id,
            wamid=wamid,
            kind=kind,
            target_wamid=target_wamid,
            target_message_id=self.message_ids_by_wamid.get(target_wamid, ""),
            content=content,
            sent_at=sent_at,
            metadata=metadata,
            trace=trace,
        )
        return True
