"""Who a customer is: phone number (`wa_id`), business-scoped user id (`user_id`), name.

Since 2026 a webhook may carry the BSUID without the phone number, or both; `value.contacts`
completes what a message or status leaves out, and carries the profile name.
"""

from __future__ import annotations

from collections.abc import Sequence

from threadline.contracts.events.v1 import common_pb2
from threadline.ingest.webhook_shape import JsonObject, MalformedWebhook, string_at, text_of


def sender(
    message: JsonObject, path: str, contacts: Sequence[JsonObject]
) -> common_pb2.CustomerIdentity:
    """The customer: `from` (phone) and/or `from_user_id` (BSUID), completed by `contacts`."""
    wa_id = string_at(message, "from", path)
    user_id = string_at(message, "from_user_id", path)
    if not wa_id and not user_id:
        raise MalformedWebhook(f"{path} has neither 'from' nor 'from_user_id'")
    return _identity(wa_id, user_id, contacts)


def recipient(status: JsonObject, contacts: Sequence[JsonObject]) -> common_pb2.CustomerIdentity:
    """Whom a status is about; in a group, the participant who received or read."""
    if text_of(status.get("recipient_type")) == "group":
        wa_id = text_of(status.get("recipient_participant_id"))
        user_id = text_of(status.get("recipient_participant_user_id"))
    else:
        wa_id = text_of(status.get("recipient_id"))
        user_id = text_of(status.get("recipient_user_id"))
    return _identity(wa_id, user_id, contacts)


def _identity(
    wa_id: str, user_id: str, contacts: Sequence[JsonObject]
) -> common_pb2.CustomerIdentity:
    contact = _matching_contact(contacts, wa_id, user_id)
    profile = contact.get("profile")
    return common_pb2.CustomerIdentity(
        wa_id=wa_id or text_of(contact.get("wa_id")),
        user_id=user_id or text_of(contact.get("user_id")),
        profile_name=text_of(profile.get("name")) if isinstance(profile, dict) else "",
    )


def _matching_contact(contacts: Sequence[JsonObject], wa_id: str, user_id: str) -> JsonObject:
    """The contact with the same phone or BSUID; the only one when it contradicts neither."""
    for contact in contacts:
        if (wa_id and text_of(contact.get("wa_id")) == wa_id) or (
            user_id and text_of(contact.get("user_id")) == user_id
        ):
            return contact
    if len(contacts) == 1:
        only = contacts[0]
        other_wa_id, other_user_id = text_of(only.get("wa_id")), text_of(only.get("user_id"))
        if not (wa_id and other_wa_id) and not (user_id and other_user_id):
            return only
    return {}
