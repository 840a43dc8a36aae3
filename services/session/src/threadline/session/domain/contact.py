"""A customer of a business number, known by `wa_id`, by BSUID (`user_id`), or both."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from threadline.session.domain.identity import NAMESPACE, contact_id


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
        # What the customer gave in conversations (issue 12: a flow's asks), the latest value
        # of each field by its key (name, email, phone, date, ...).
        self.data: dict[str, Any] = {}

    @event("ConversationOpened")
    def open_conversation(self, conversation_id: UUID) -> None:
        self.open_conversation_id = conversation_id
        self.conversation_ids.append(conversation_id)

    def learn_identity(self, *, wa_id: str, user_id: str) -> bool:
        """A payload named an id this contact did not have yet (e.g. first BSUID, then both)."""
        new_wa = wa_id if wa_id and not self.wa_id else ""
        new_user = user_id if user_id and not self.user_id else ""
        if not new_wa and not new_user:
            return False
        self._identity_linked(new_wa, new_user)
        return True

    @event("IdentityLinked")
    def _identity_linked(self, wa_id: str, user_id: str) -> None:
        self.wa_id = self.wa_id or wa_id
        self.user_id = self.user_id or user_id

    def rename(self, profile_name: str) -> bool:
        """WhatsApp profile names change; the newest one is kept."""
        if not profile_name or profile_name == self.profile_name:
            return False
        self._renamed(profile_name)
        return True

    @event("ProfileNameChanged")
    def _renamed(self, profile_name: str) -> None:
        self.profile_name = profile_name

    def collect_data(self, conversation_id: UUID, data: dict[str, Any]) -> bool:
        """A conversation collected these fields; the ones whose value changed are kept (a
        value is never forgotten: a field the conversation does not name keeps its own).
        False when nothing changed."""
        changed = {key: value for key, value in data.items() if self.data.get(key) != value}
        if not changed:
            return False
        self._data_collected(conversation_id, changed)
        return True

    @event("DataCollected")
    def _data_collected(self, conversation_id: UUID, fields: dict[str, Any]) -> None:
        self.data = {**self.data, **fields}

    def recent_conversations(self, limit: int = 5) -> list[UUID]:
        """Newest first: where a status for an earlier message is looked for."""
        return list(reversed(self.conversation_ids[-limit:]))


class ContactKey(Aggregate):
    """Claims one customer id (`wa:<wa_id>` or `bsuid:<user_id>`) on a number for a contact.

    Its id is derived from the key, so two writers creating the same contact at once conflict
    on it instead of creating two contacts; and a contact first known by one id is found again
    through the other once a payload carried both.
    """

    @staticmethod
    def create_id(phone_number_id: str, key: str, contact_id: UUID) -> UUID:
        return contact_key_id(phone_number_id, key)

    @event("Claimed")
    def __init__(self, phone_number_id: str, key: str, contact_id: UUID) -> None:
        self.phone_number_id = phone_number_id
        self.key = key
        self.contact_id = contact_id


def contact_keys(wa_id: str, user_id: str) -> list[str]:
    return [k for k in (f"wa:{wa_id}" if wa_id else "", f"bsuid:{user_id}" if user_id else "") if k]


@lru_cache(maxsize=65536)
def contact_key_id(phone_number_id: str, key: str) -> UUID:
    return uuid5(NAMESPACE, f"contact-key:{phone_number_id}:{key}")
