"""One person is one contact, whichever of its ids a payload carries."""

from __future__ import annotations

from collections.abc import Callable

from threadline.session.application.contacts import find_contact
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import InboundMessage
from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.domain.contact import Contact

InboundFactory = Callable[..., InboundMessage]


def contact_of(app: Conversations, *, wa_id: str = "", user_id: str = "") -> Contact:
    found = find_contact(UnitOfWork(app.repository), "pn-1", wa_id, user_id)
    assert found is not None
    return found


def test_a_contact_first_seen_by_bsuid_is_the_same_once_a_payload_carries_both(
    app: Conversations, inbound: InboundFactory
) -> None:
    app.record_facts([inbound(wa_id="", user_id="US.100")])

    app.record_facts([inbound(wa_id="15551000", user_id="US.100")])

    by_wa = contact_of(app, wa_id="15551000")
    assert by_wa.id == contact_of(app, user_id="US.100").id
    assert (by_wa.wa_id, by_wa.user_id) == ("15551000", "US.100")
    assert len(by_wa.conversation_ids) == 1


def test_a_contact_first_seen_by_wa_id_is_found_by_its_bsuid_later(
    app: Conversations, inbound: InboundFactory
) -> None:
    app.record_facts([inbound(wa_id="15551001")])
    app.record_facts([inbound(wa_id="15551001", user_id="US.101")])

    app.record_facts([inbound(wa_id="", user_id="US.101")])

    contact = contact_of(app, user_id="US.101")
    assert contact.id == contact_of(app, wa_id="15551001").id
    assert len(contact.conversation_ids) == 1


def test_the_profile_name_is_kept_and_updated(app: Conversations, inbound: InboundFactory) -> None:
    app.record_facts([inbound(wa_id="15551002", profile_name="Ana")])

    app.record_facts([inbound(wa_id="15551002", profile_name="Ana Souza")])

    assert contact_of(app, wa_id="15551002").profile_name == "Ana Souza"


def test_the_same_customer_on_two_numbers_is_two_contacts(
    app: Conversations, inbound: InboundFactory
) -> None:
    app.record_facts(
        [
            inbound(wa_id="15551003", phone_number_id="pn-1"),
            inbound(wa_id="15551003", phone_number_id="pn-2"),
        ]
    )

    on_one = find_contact(UnitOfWork(app.repository), "pn-1", "15551003", "")
    on_two = find_contact(UnitOfWork(app.repository), "pn-2", "15551003", "")

    assert on_one is not None and on_two is not None and on_one.id != on_two.id
