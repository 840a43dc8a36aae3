"""Every kind of customer message is recorded, and nothing in a payload is dropped."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from threadline.contracts.events.v1 import common_pb2, ingest_pb2
from threadline.session.adapters.integration_events.incoming_facts import decode_fact
from threadline.session.application.contacts import find_contact
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import InboundMessage
from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.application.views import ConversationView
from threadline.session.domain.identity import inbound_message_id
from threadline.testing.samples import webhook_sample

InboundFactory = Callable[..., InboundMessage]


def conversation_of(app: Conversations, wa_id: str) -> ConversationView:
    contact = find_contact(UnitOfWork(app.repository), "pn-1", wa_id, "")
    assert contact is not None and contact.open_conversation_id is not None
    return app.find_conversation(contact.open_conversation_id)


def change(kind: str, target: str, **extra: str) -> dict[str, str]:
    return {
        "type": kind,
        "text": extra.get("text", ""),
        "payload_json": json.dumps(
            {"original_message_id" if kind != "reaction" else "message_id": target, **extra}
        ),
    }


def test_an_edit_is_recorded_against_the_message_it_changes(
    app: Conversations, inbound: InboundFactory
) -> None:
    original = inbound(wa_id="15554001", wamid="wamid.original")
    app.record_facts([original])

    app.record_facts(
        [
            inbound(
                wa_id="15554001",
                wamid="wamid.edit",
                target_wamid="wamid.original",
                content=change("edit", "wamid.original", text="new text"),
            )
        ]
    )

    conversation = conversation_of(app, "15554001")
    assert conversation.knows("wamid.edit")
    assert conversation.messages[str(inbound_message_id("wamid.original"))].status == "received"


def test_a_revoke_marks_the_message_deleted(app: Conversations, inbound: InboundFactory) -> None:
    app.record_facts([inbound(wa_id="15554002", wamid="wamid.gone")])

    app.record_facts(
        [
            inbound(
                wa_id="15554002",
                wamid="wamid.revoke",
                target_wamid="wamid.gone",
                content=change("revoke", "wamid.gone"),
            )
        ]
    )

    conversation = conversation_of(app, "15554002")
    assert conversation.messages[str(inbound_message_id("wamid.gone"))].status == "deleted"


def test_a_reaction_and_its_removal_are_both_kept(
    app: Conversations, inbound: InboundFactory
) -> None:
    app.record_facts([inbound(wa_id="15554003", wamid="wamid.liked")])
    version = conversation_of(app, "15554003").version

    app.record_facts(
        [
            inbound(
                wa_id="15554003",
                wamid="wamid.r1",
                target_wamid="wamid.liked",
                content=change("reaction", "wamid.liked", emoji="👍"),
            ),
            inbound(
                wa_id="15554003",
                wamid="wamid.r2",
                target_wamid="wamid.liked",
                content=change("reaction", "wamid.liked", emoji=""),
            ),
        ]
    )

    assert conversation_of(app, "15554003").version == version + 2


def fact_from_sample(file: str, name: str) -> ingest_pb2.InboundMessageReceived:
    body = webhook_sample(file, name)
    message: dict[str, Any] = body["entry"][0]["changes"][0]["value"]["messages"][0]
    fact = ingest_pb2.InboundMessageReceived(
        wamid=message["id"],
        phone_number_id="pn-1",
        customer=common_pb2.CustomerIdentity(wa_id=message.get("from", "")),
        content=common_pb2.MessageContent(
            type=message["type"], payload_json=json.dumps(message.get(message["type"]))
        ),
        raw_json=json.dumps(message),
    )
    fact.sent_at.FromSeconds(int(message["timestamp"]))
    return fact


def test_a_location_keeps_its_coordinates_and_a_map_link() -> None:
    fact = decode_fact(
        "x.InboundMessageReceived",
        fact_from_sample("messages", "current_location").SerializeToString(),
    )

    assert isinstance(fact, InboundMessage)
    assert fact.metadata["coordinates"] == {"latitude": 12.25089, "longitude": 43.90539}
    assert fact.metadata["map_link"].endswith("?q=12.25089,43.90539")


def test_an_ad_referral_is_a_free_entry_point_and_keeps_the_whole_payload() -> None:
    fact = decode_fact(
        "x.InboundMessageReceived", fact_from_sample("messages", "referral").SerializeToString()
    )

    assert isinstance(fact, InboundMessage) and fact.free_entry is True
    assert fact.metadata["raw"]["referral"]["ctwa_clid"] == "CTWA_CLID"


def test_an_edit_names_the_message_it_changes() -> None:
    fact = decode_fact(
        "x.InboundMessageReceived",
        fact_from_sample("changes", "edit").SerializeToString(),
    )

    assert isinstance(fact, InboundMessage)
    assert fact.target_wamid.startswith("wamid.HBgLMTQxMjU1NTA4Mjk")
