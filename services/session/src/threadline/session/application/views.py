"""What queries answer: frozen views of the aggregates, never the aggregates themselves (which
only commands change, on the writer thread)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from threadline.rules.window import CustomerServiceWindow
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.message_state import HeldStatus, MessageState


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A conversation as it was when it was read."""

    id: UUID
    version: int
    contact_id: UUID
    phone_number_id: str
    customer_wa_id: str
    customer_user_id: str
    session_key: str
    channel: str
    opened_by: str
    category: str
    status: str
    ai_paused: bool
    window: CustomerServiceWindow
    last_activity_at: datetime | None
    flow: Mapping[str, Any] | None
    messages: Mapping[str, MessageState]  # by message id (text)
    early_statuses: Mapping[str, Sequence[HeldStatus]]  # by wamid
    wamids: frozenset[str]

    def knows(self, wamid: str) -> bool:
        return wamid in self.wamids


def conversation_view(conversation: Conversation) -> ConversationView:
    flow = conversation.flow
    return ConversationView(
        id=conversation.id,
        version=conversation.version,
        contact_id=conversation.contact_id,
        phone_number_id=conversation.phone_number_id,
        customer_wa_id=conversation.customer_wa_id,
        customer_user_id=conversation.customer_user_id,
        session_key=conversation.session_key,
        channel=conversation.channel,
        opened_by=conversation.opened_by,
        category=conversation.category,
        status=conversation.status,
        ai_paused=conversation.ai_paused,
        window=conversation.window,
        last_activity_at=conversation.last_activity_at,
        flow=None if flow is None else dict(flow),
        messages=dict(conversation.messages),
        early_statuses={w: tuple(h) for w, h in conversation.early_statuses.items()},
        wamids=frozenset(conversation.message_ids_by_wamid),
    )
