"""What a run of session events does to the read models, folded in position order.

Folding first and writing after turns a batch of hundreds of events into a few multi-row
statements: inserts of new rows, then one merged patch per message and one activity summary
per conversation. Applying the merged changes gives the same rows as applying the events one
by one, because each later event's values override the earlier ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


class ProjectionError(ValueError):
    """An event that can never be projected (malformed or contradicting the read models)."""


@dataclass(frozen=True, slots=True)
class ContactRow:
    id: UUID
    business_number: str
    wa_id: str
    user_id: str
    name: str
    registered_at: datetime


@dataclass(frozen=True, slots=True)
class ConversationRow:
    id: UUID
    lead_id: UUID
    business_number: str
    session_key: str
    channel: str
    status: str
    customer_wa_id: str
    customer_user_id: str
    customer_name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: str
    conversation_id: UUID
    position: int
    role: str
    author: str
    type: str
    content: str
    status: str
    wamid: str
    metadata: dict[str, Any]
    created_at: datetime


@dataclass(slots=True)
class MessagePatch:
    """Later facts about a message already written (or written earlier in the same batch)."""

    updated_at: datetime
    wamid: str | None = None
    status: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Activity:
    """New messages of one conversation: how many, and the latest one's time and preview."""

    added: int
    last_message_at: datetime
    preview: str


@dataclass
class Changes:
    contacts: dict[UUID, ContactRow] = field(default_factory=dict)
    conversations: dict[UUID, ConversationRow] = field(default_factory=dict)
    messages: dict[str, MessageRow] = field(default_factory=dict)
    patches: dict[str, MessagePatch] = field(default_factory=dict)
    activity: dict[UUID, Activity] = field(default_factory=dict)

    def register_contact(self, row: ContactRow) -> None:
        self.contacts[row.id] = row

    def start_conversation(self, row: ConversationRow) -> None:
        if row.id in self.conversations:
            raise ProjectionError(f"conversation {row.id} started twice")
        self.conversations[row.id] = row

    def add_message(self, row: MessageRow, *, preview: str) -> None:
        if row.id in self.messages:
            raise ProjectionError(f"message {row.id!r} added twice")
        self.messages[row.id] = row
        known = self.activity.get(row.conversation_id)
        added = known.added + 1 if known else 1
        self.activity[row.conversation_id] = Activity(added, row.created_at, preview)

    def patch_message(
        self,
        message_id: str,
        at: datetime,
        *,
        wamid: str | None = None,
        status: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        patch = self.patches.setdefault(message_id, MessagePatch(updated_at=at))
        patch.updated_at = at
        if wamid:
            patch.wamid = wamid
        if status:
            patch.status = status
        patch.metadata.update(metadata or {})

    @property
    def empty(self) -> bool:
        return not (
            self.contacts or self.conversations or self.messages or self.patches or self.activity
        )
