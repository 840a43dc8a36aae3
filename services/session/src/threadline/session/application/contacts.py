"""Finding the contact a payload means, whichever of its ids it carries."""

from __future__ import annotations

import logging

from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.domain.contact import Contact, ContactKey, contact_key_id, contact_keys

log = logging.getLogger(__name__)


def find_contact(
    unit: UnitOfWork, phone_number_id: str, wa_id: str, user_id: str
) -> Contact | None:
    """The contact claimed by any of the ids, or None."""
    for key in contact_keys(wa_id, user_id):
        claim = unit.get(contact_key_id(phone_number_id, key), ContactKey)
        if claim is not None:
            return unit.get(claim.contact_id, Contact)
    return None


def find_or_register_contact(
    unit: UnitOfWork, phone_number_id: str, wa_id: str, user_id: str, profile_name: str
) -> Contact:
    """The contact for these ids, registered when new; ids first seen now are claimed for it,
    and a changed profile name is kept."""
    contact = find_contact(unit, phone_number_id, wa_id, user_id)
    if contact is None:
        contact = Contact(
            phone_number_id=phone_number_id, wa_id=wa_id, user_id=user_id, profile_name=profile_name
        )
        unit.add(contact)
    else:
        contact.learn_identity(wa_id=wa_id, user_id=user_id)
        contact.rename(profile_name)
    for key in contact_keys(wa_id, user_id):
        claim = unit.get(contact_key_id(phone_number_id, key), ContactKey)
        if claim is None:
            unit.add(ContactKey(phone_number_id=phone_number_id, key=key, contact_id=contact.id))
        elif claim.contact_id != contact.id:
            # Two contacts were registered for one person before a payload linked their ids;
            # merging histories is not done: the first id's contact keeps the conversation.
            log.warning(
                "ids %s of number %s belong to two contacts (%s, %s)",
                key,
                phone_number_id,
                claim.contact_id,
                contact.id,
            )
    return contact
