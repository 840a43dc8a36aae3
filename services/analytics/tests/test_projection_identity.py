"""Projecting contacts and business numbers: linked ids, names, settings and templates."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import uuid4

from threadline.analytics.domain.write.projection import project

if TYPE_CHECKING:
    from conftest import EventLog


def test_a_linked_id_fills_the_contact_and_the_first_one_linked_stays(log: EventLog) -> None:
    contact = uuid4()

    patch = project(
        [
            log.identity_linked(contact, user_id="US.100"),
            log.identity_linked(contact, user_id="US.200", wa_id="15550004444"),
        ]
    ).contact_patches[contact]

    assert (patch.user_id, patch.wa_id, patch.name) == ("US.100", "15550004444", None)


def test_the_newest_profile_name_is_kept(log: EventLog) -> None:
    contact = uuid4()

    patch = project([log.renamed(contact, "Ana B."), log.renamed(contact, "Ana Banana")])

    assert patch.contact_patches[contact].name == "Ana Banana"


def test_a_claimed_key_links_a_customer_id_to_its_contact_on_the_number(log: EventLog) -> None:
    contact = uuid4()

    keys = project([log.key_claimed(contact, "bsuid:US.300")]).contact_keys

    row = keys[(log.business_number, "bsuid:US.300")]
    assert (row.contact_id, row.claimed_at) == (contact, log.now)


def test_a_registered_number_is_known_by_its_phone_number_id(log: EventLog) -> None:
    number = uuid4()

    row = project([log.number(number, number="pn-77")]).numbers[number]

    assert (row.phone_number_id, row.registered_at) == ("pn-77", log.now)


def test_autopilot_and_auto_resolution_settings_fold_to_the_latest(log: EventLog) -> None:
    number = uuid4()

    patch = project(
        [
            log.autopilot(number, enabled=False),
            log.auto_resolution(number, hours=6),
            log.autopilot(number, enabled=True),
        ]
    ).number_patches[number]

    assert (patch.autopilot, patch.auto_resolve_hours) == (True, 6)


def test_a_template_is_registered_for_its_number_and_a_new_version_replaces_it(
    log: EventLog,
) -> None:
    number = uuid4()

    templates = project(
        [
            log.template(number, "order_shipped", body="Shipped {{1}}"),
            log.template(
                number, "order_shipped", body="Order {{1}} left on {{2}}", parameter_count=2
            ),
        ]
    ).templates

    row = templates[(number, "order_shipped", "en_US")]
    assert (row.category, row.body, row.parameter_count) == (
        "UTILITY",
        "Order {{1}} left on {{2}}",
        2,
    )
