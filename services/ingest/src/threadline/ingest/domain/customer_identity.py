"""Who a customer is: phone number (`wa_id`), business-scoped user id (`user_id`), name.

Since 2026 a webhook may carry the BSUID without the phone number, or both; `value.contacts`
completes what a message or status leaves out, and carries the profile name. Contacts come
cleaned (`sanitize.py`), each with the problems cleaning it found; an identity taken from a
contact carries that contact's problems.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from threadline.ingest.domain.bounds import USER_ID, WA_ID
from threadline.ingest.domain.facts import CustomerIdentity
from threadline.ingest.domain.webhook_shape import JsonObject, MalformedWebhook, id_at, text_of


@dataclass(frozen=True, slots=True)
class Contact:
    """One cleaned entry of `value.contacts`."""

    value: JsonObject
    problems: list[str] = field(default_factory=list)


_NOBODY = Contact({})


@dataclass(frozen=True, slots=True)
class Identity:
    """A customer's identity, and the problems of the contact it was completed from."""

    customer: CustomerIdentity
    problems: list[str]


def sender(message: JsonObject, path: str, contacts: Sequence[Contact]) -> Identity:
    """The customer: `from` (phone) and/or `from_user_id` (BSUID), completed by `contacts`.

    Ids over their bound or not printable are `bad-id` mistakes (`MalformedWebhook`)."""
    wa_id = id_at(message, "from", path, WA_ID)
    user_id = id_at(message, "from_user_id", path, USER_ID)
    if not wa_id and not user_id:
        raise MalformedWebhook(f"{path} has neither 'from' nor 'from_user_id'")
    return _identity(wa_id, user_id, contacts)


def recipient(status: JsonObject, path: str, contacts: Sequence[Contact]) -> Identity:
    """Whom a status is about; in a group, the participant who received or read."""
    group = text_of(status.get("recipient_type")) == "group"
    wa_key, user_key = (
        ("recipient_participant_id", "recipient_participant_user_id")
        if group
        else ("recipient_id", "recipient_user_id")
    )
    # Read leniently (a recipient only decorates a status), but an id is never cut short.
    wa_id = id_at({wa_key: text_of(status.get(wa_key))}, wa_key, path, WA_ID)
    user_id = id_at({user_key: text_of(status.get(user_key))}, user_key, path, USER_ID)
    return _identity(wa_id, user_id, contacts)


def _identity(wa_id: str, user_id: str, contacts: Sequence[Contact]) -> Identity:
    contact = _matching_contact(contacts, wa_id, user_id)
    profile = contact.value.get("profile")
    customer = CustomerIdentity(
        wa_id=wa_id or text_of(contact.value.get("wa_id")),
        user_id=user_id or text_of(contact.value.get("user_id")),
        profile_name=text_of(profile.get("name")) if isinstance(profile, dict) else "",
    )
    return Identity(customer, contact.problems)


def _matching_contact(contacts: Sequence[Contact], wa_id: str, user_id: str) -> Contact:
    """The contact with the same phone or BSUID; the only one when it contradicts neither."""
    for contact in contacts:
        if (wa_id and text_of(contact.value.get("wa_id")) == wa_id) or (
            user_id and text_of(contact.value.get("user_id")) == user_id
        ):
            return contact
    if len(contacts) == 1:
        only = contacts[0]
        other_wa_id = text_of(only.value.get("wa_id"))
        other_user_id = text_of(only.value.get("user_id"))
        if not (wa_id and other_wa_id) and not (user_id and other_user_id):
            return only
    return _NOBODY
