"""Facts from hostile or broken senders (issue 8): the window saturates instead of
overflowing, problems ingest noted stay with the message, a message's content is kept once,
and the largest message ingest lets through makes a session event far below NATS's 1 MiB."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from threadline.contracts.events.v1 import common_pb2, ingest_pb2
from threadline.contracts.events.v1 import session_pb2 as pb
from threadline.ingest.adapters.integration_events import integration_event
from threadline.ingest.domain.webhook_parser import parse_document
from threadline.messaging.topology import Topology
from threadline.rules.window import CustomerServiceWindow
from threadline.servicekit.clock import later
from threadline.session.adapters.integration_events.incoming_facts import decode_fact
from threadline.session.adapters.integration_events.session_events import SessionEvents
from threadline.session.adapters.outbound.stored_records import StoredRecords
from threadline.session.application.contacts import find_contact
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import DraftedReply, InboundMessage
from threadline.session.application.outcomes import APPLIED
from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.domain.conversation import Conversation

InboundFactory = Callable[..., InboundMessage]
LATEST = datetime.max.replace(tzinfo=UTC)
NATS_MAX_PAYLOAD = 1024 * 1024
# What bounds.py in ingest promises: a fact under 160 KiB, a session event under 100 KiB
# (the largest measured: 152 and 92 KiB).
MAX_FACT_BYTES = 160 * 1024
MAX_EVENT_BYTES = 100 * 1024


# The window saturates -------------------------------------------------------------------------


def test_window_arithmetic_saturates_at_the_latest_moment() -> None:
    near_the_end = LATEST - timedelta(hours=1)

    assert later(near_the_end, timedelta(hours=72)) == LATEST
    assert CustomerServiceWindow.of(last_inbound_at=near_the_end).closes_at == LATEST
    assert CustomerServiceWindow.of(last_inbound_at=near_the_end).is_open(
        datetime(2026, 5, 1, tzinfo=UTC)
    )
    assert later(datetime(2026, 5, 1, tzinfo=UTC), timedelta(hours=24)) == datetime(
        2026, 5, 2, tzinfo=UTC
    )


def test_a_far_future_message_with_a_referral_is_recorded_and_later_drafts_are_queued(
    app: Conversations, inbound: InboundFactory
) -> None:
    # What ingest now clamps, in case a fact carries it anyway (an older ingest, a replay).
    fact = inbound(wa_id="15557001", sent_at=LATEST - timedelta(seconds=1), free_entry=True)

    first = app.record_facts([fact])
    contact = find_contact(UnitOfWork(app.repository), "pn-1", "15557001", "")
    assert contact is not None and contact.open_conversation_id is not None
    conversation = app.find_conversation(contact.open_conversation_id)
    draft = DraftedReply(
        draft_id=f"d-{uuid4().hex}",
        conversation_id=conversation.id,
        in_reply_to_message_id="",
        content={"type": "text", "text": "Hi"},
    )
    second = app.record_facts([draft])

    assert (first, second) == ([APPLIED], [APPLIED])
    assert app.find_conversation(conversation.id).window.closes_at == LATEST


# Facts from ingest ------------------------------------------------------------------------------


def inbound_fact(message: dict[str, Any], problems: Sequence[str] = ()) -> bytes:
    kind = message["type"]
    fact = ingest_pb2.InboundMessageReceived(
        wamid=message["id"],
        phone_number_id="pn-1",
        customer=common_pb2.CustomerIdentity(wa_id=message["from"]),
        content=common_pb2.MessageContent(
            type=kind, payload_json=json.dumps(message[kind]) if kind in message else "{}"
        ),
        raw_json=json.dumps(message),
        problems=problems,
    )
    fact.sent_at.FromSeconds(1_777_000_000)
    return fact.SerializeToString()


def decoded(message: dict[str, Any], problems: Sequence[str] = ()) -> InboundMessage:
    fact = decode_fact("x.InboundMessageReceived", inbound_fact(message, problems))
    assert isinstance(fact, InboundMessage)
    return fact


def a_message(kind: str, body: Any, **fields: Any) -> dict[str, Any]:
    return {"from": "1555", "id": "wamid.H1", "timestamp": "1", "type": kind, kind: body, **fields}


def test_the_problems_ingest_noted_are_in_the_metadata() -> None:
    problems = ["messages[0].text.body truncated from 400000 to 4096 characters"]

    fact = decoded(a_message("text", {"body": "y"}), problems)

    assert fact.metadata["problems"] == problems


def test_a_message_without_problems_has_none_in_its_metadata() -> None:
    assert "problems" not in decoded(a_message("text", {"body": "y"})).metadata


def test_the_raw_message_is_kept_without_its_content_which_the_content_holds() -> None:
    location = {"latitude": 1.5, "longitude": 2.5, "name": "Café"}

    fact = decoded(a_message("location", location, referral={"source_id": "9"}))

    assert "location" not in fact.metadata["raw"]
    assert fact.metadata["raw"]["referral"] == {"source_id": "9"}
    assert json.loads(fact.content["payload_json"]) == location
    assert fact.free_entry is True


@pytest.mark.parametrize(
    "location",
    [
        {"latitude": "x" * 4096, "longitude": "x" * 4096},
        {"latitude": 91, "longitude": 0},
        {"latitude": 0, "longitude": -180.5},
        {"latitude": None, "longitude": 1},
        {"latitude": True, "longitude": 1},
        {"latitude": 10**400, "longitude": 1},
        {"longitude": 1},
    ],
)
def test_only_numbers_within_range_make_coordinates_and_a_map_link(
    location: dict[str, Any],
) -> None:
    metadata = decoded(a_message("location", location)).metadata

    assert "coordinates" not in metadata and "map_link" not in metadata


def test_valid_coordinates_make_a_map_link() -> None:
    metadata = decoded(a_message("location", {"latitude": -90, "longitude": 180.0})).metadata

    assert metadata["coordinates"] == {"latitude": -90, "longitude": 180.0}
    assert metadata["map_link"] == "https://www.google.com/maps?q=-90,180.0"


def test_an_edit_still_names_the_message_it_changes() -> None:
    edit = {"original_message_id": "wamid.O", "message": {"type": "text", "text": {"body": "b"}}}

    assert decoded(a_message("edit", edit)).target_wamid == "wamid.O"


# Event size by construction -------------------------------------------------------------------

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
EMOJI = "\U0001f600"  # 4 bytes of UTF-8


def webhook(message: dict[str, Any]) -> dict[str, Any]:
    value = {
        "metadata": {"display_phone_number": "9" * 500, "phone_number_id": "1" * 64},
        "contacts": [{"profile": {"name": EMOJI * 5000}, "wa_id": "1" * 64}],
        "messages": [message],
    }
    return {"entry": [{"changes": [{"field": "messages", "value": value}]}]}


def noisy(depth: int) -> dict[str, Any]:
    """Keys that each make a problem, with the longest paths the bounds allow."""
    node: dict[str, Any] = {f"\x00{EMOJI * 200}{i}": "\x00" for i in range(40)}
    for level in range(depth):
        node = {f"{EMOJI * 40}{level}": node}
    return node


def largest(kind: str, content: Any) -> dict[str, Any]:
    """A `kind` message as large as ingest lets through: filler (in its content object, so
    that the content, which a fact carries twice, is as large as can be) grown until one more
    character would make it over the whole-message bound."""

    def filler(chars: int) -> dict[str, str]:
        full, rest = divmod(chars, 4096)  # 4,096: the bound of any other string
        return {**{f"f{i}": EMOJI * 4096 for i in range(full)}, "rest": EMOJI * rest}

    def message(chars: int) -> dict[str, Any]:
        body = json.loads(json.dumps(content))
        (body if isinstance(body, dict) else body[0])["filler"] = filler(chars)
        return {
            "from": "1" * 64,
            "from_user_id": "U" * 128,
            "id": "w" * 256,
            "timestamp": str(int(NOW.timestamp())),
            "type": kind,
            kind: body,
            "context": {"id": "c" * 256, "from": "2" * 64},
            "noise": noisy(13),
        }

    low, high = 0, 20_000
    while low < high:
        middle = (low + high + 1) // 2
        parsed = parse_document(webhook(message(middle)), received_at=NOW)
        low, high = (middle, high) if parsed.facts else (low, middle - 1)
    return message(low)


LARGEST = {
    "text": ("text", {"body": EMOJI * 5000}),
    "location": (
        "location",
        {"latitude": 90, "longitude": -180, "name": EMOJI * 2000, "address": EMOJI * 2000},
    ),
    "contacts": (
        "contacts",
        [{"name": {"formatted_name": EMOJI * 300}, "phones": [{"phone": "1"}]}] * 40,
    ),
    "edit": (
        "edit",
        {
            "original_message_id": "o" * 256,
            "message": {"type": "text", "text": {"body": EMOJI * 5000}},
        },
    ),
}


@pytest.mark.parametrize("case", list(LARGEST), ids=list(LARGEST))
def test_the_largest_message_ingest_allows_makes_an_event_far_below_nats_payload(
    app: Conversations, case: str
) -> None:
    kind, content = LARGEST[case]
    (fact,) = parse_document(webhook(largest(kind, content)), received_at=NOW).facts
    data = integration_event(fact).SerializeToString()
    inbound = decode_fact("x.InboundMessageReceived", data)

    assert app.record_facts([inbound]) == [APPLIED]
    events = SessionEvents(app.mapper)
    published = [
        events.outbox_record(record, Topology("t1"))
        for record in StoredRecords(app.recorder).after(0, 100)
    ]
    message_events = [
        p for p in published if p.subject.endswith(("CustomerMessageReceived", "MessageChanged"))
    ]

    (event,) = message_events
    body = pb.SessionEvent.FromString(event.payload)
    assert body.WhichOneof("body") in {"customer_message_received", "customer_message_changed"}
    assert len(fact.problems) == 33  # as many as a fact carries
    assert len(data) < MAX_FACT_BYTES
    assert max(len(p.payload) for p in published) < MAX_EVENT_BYTES <= NATS_MAX_PAYLOAD // 8


def test_a_content_payload_that_is_no_json_keeps_the_whole_raw_message() -> None:
    fact = ingest_pb2.InboundMessageReceived(
        wamid="wamid.H2",
        customer=common_pb2.CustomerIdentity(wa_id="1555"),
        content=common_pb2.MessageContent(type="text", payload_json="{not json"),
        raw_json=json.dumps(a_message("text", {"body": "kept"})),
    )

    decoded_fact = decode_fact("x.InboundMessageReceived", fact.SerializeToString())

    assert isinstance(decoded_fact, InboundMessage)
    assert decoded_fact.metadata["raw"]["text"] == {"body": "kept"}


def test_a_status_naming_a_customers_message_or_reaction_changes_nothing() -> None:
    # Found by make fuzz: a status webhook for the wamid of a customer's reaction raised
    # KeyError and the fact was dead-lettered; one for a customer's message moved it to "read".
    talk = Conversation(
        contact_id=uuid4(),
        phone_number_id="109000000000001",
        customer_wa_id="15550001111",
        customer_user_id="",
        customer_name="Ana",
        session_key="whatsapp_+15550001111",
    )
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    talk.receive_customer_message(
        message_id=uuid4(),
        wamid="wamid.in.1",
        content={"type": "text", "text": "hi", "payload_json": "{}"},
        sent_at=at,
        metadata={},
    )
    talk.record_customer_change(
        message_id=uuid4(),
        wamid="wamid.in.2",
        kind="reaction",
        target_wamid="wamid.in.1",
        content={"type": "reaction", "text": "👍"},
        sent_at=at,
        metadata={},
    )

    for wamid in ("wamid.in.1", "wamid.in.2"):
        assert talk.report_status(wamid=wamid, status="read", reported_at=at) is False
    assert [m.status for m in talk.messages.values()] == ["received"]
