"""A customer of a business number, and which of its conversations is open."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from threadline.session.domain.identity import contact_id


class Contact(Aggregate):
    """One person writing to one business number."""

    @staticmethod
    def create_id(phone_number_id: str, wa_id: str, user_id: str, profile_name: str) -> UUID:
        return contact_id(phone_number_id, wa_id, user_id)

    @event("Registered")
    def __init__(self, phone_number_id: str, wa_id: str, user_id: str, profile_name: str) -> None:
        self.phone_number_id = phone_number_id
        self.wa_id = wa_id
        self.user_id = user_id
        self.profile_name = profile_name
        self.open_conversation_id: UUID | None = None
        self.conversation_ids: list[UUID] = []

    @event("ConversationOpened")
    def open_conversation(self, conversation_id: UUID) -> None:
        self.open_conversation_id = conversation_id
        self.conversation_ids.append(conversation_id)

    def recent_conversations(self, limit: int = 5) -> list[UUID]:
        """Newest first: where a status for an earlier message is looked for."""
        return list(reversed(self.conversation_ids[-limit:]))
