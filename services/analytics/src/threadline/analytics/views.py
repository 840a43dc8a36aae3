"""What the queries answer: frozen snapshots of the read models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Lead:
    """The customer (contact) a conversation is with."""

    id: UUID
    wa_id: str
    user_id: str
    name: str


@dataclass(frozen=True, slots=True)
class ConversationView:
    id: UUID
    lead_id: UUID
    business_number: str
    session_key: str
    channel: str
    status: str
    message_count: int
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None
    last_message_preview: str
    lead: Lead


@dataclass(frozen=True, slots=True)
class MessageView:
    id: str
    conversation_id: UUID
    role: str
    author: str
    type: str
    content: str
    status: str
    wamid: str
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ConversationPage:
    conversations: tuple[ConversationView, ...]
    total: int
    page: int
    size: int


@dataclass(frozen=True, slots=True)
class ConversationDetail:
    conversation: ConversationView
    messages: tuple[MessageView, ...]  # oldest first


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: tuple[MessageView, ...]  # oldest first
    total: int
