"""Contacts: who writes to a business number, by which ids, under which profile name, and
what they told a flow about themselves (issue 12)."""

from __future__ import annotations

from threadline.analytics.domain.write.changes import Changes
from threadline.analytics.domain.write.projectors.common import (
    EventProjector,
    aggregate_uuid,
    occurred_at,
    parsed_metadata,
    uuid_of,
)
from threadline.analytics.domain.write.rows_and_patches import ContactKeyRow, ContactRow
from threadline.contracts.events.v1.session_pb2 import SessionEvent


def contact_registered(event: SessionEvent, changes: Changes) -> None:
    body = event.contact_registered
    changes.register_contact(
        ContactRow(
            id=aggregate_uuid(event),
            business_number=body.phone_number_id,
            wa_id=body.customer.wa_id,
            user_id=body.customer.user_id,
            name=body.customer.profile_name,
            registered_at=occurred_at(event),
        )
    )


def contact_identity_linked(event: SessionEvent, changes: Changes) -> None:
    body = event.contact_identity_linked
    patch = changes.contact(aggregate_uuid(event), occurred_at(event))
    # The session links only ids the contact did not have; the first one linked stays.
    patch.wa_id = patch.wa_id or body.wa_id or None
    patch.user_id = patch.user_id or body.user_id or None


def contact_profile_name_changed(event: SessionEvent, changes: Changes) -> None:
    name = event.contact_profile_name_changed.profile_name
    if name:
        changes.contact(aggregate_uuid(event), occurred_at(event)).name = name


def contact_data_collected(event: SessionEvent, changes: Changes) -> None:
    """The fields that changed, merged into the contact's data (the latest value of each). The
    `email` field is also kept on its own; a collected `name` is shown as the lead's name in
    place of the WhatsApp profile name (`columns.py`), which stays the contact's `name`."""
    fields = parsed_metadata(event.contact_data_collected.fields_json)
    if not fields:
        return
    patch = changes.contact(aggregate_uuid(event), occurred_at(event))
    patch.data.update(fields)
    email = fields.get("email")
    if isinstance(email, str):
        patch.email = email


def contact_key_claimed(event: SessionEvent, changes: Changes) -> None:
    body = event.contact_key_claimed
    changes.claim_key(
        ContactKeyRow(
            business_number=body.phone_number_id,
            key=body.key,
            contact_id=uuid_of(body.contact_id, "contact_id"),
            claimed_at=occurred_at(event),
        )
    )


PROJECTORS: dict[str, EventProjector] = {
    "contact_registered": contact_registered,
    "contact_identity_linked": contact_identity_linked,
    "contact_profile_name_changed": contact_profile_name_changed,
    "contact_key_claimed": contact_key_claimed,
    "contact_data_collected": contact_data_collected,
}
