"""Splitting one webhook into facts: identities, content, ids, and what is malformed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from threadline.contracts.events.v1 import ingest_pb2
from threadline.ingest.adapters.integration_events import integration_event
from threadline.ingest.domain.webhook_parser import (
    MalformedWebhook,
    decode,
    first_phone_number_id,
    parse_document,
    parse_webhook,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
AN_HOUR_AGO = str(int(NOW.timestamp()) - 3600)
TextWebhook = Callable[..., dict[str, Any]]


def _only_inbound(body: dict[str, Any]) -> ingest_pb2.InboundMessageReceived:
    (fact,) = parse_document(body, received_at=NOW).facts
    assert isinstance(integration_event(fact), ingest_pb2.InboundMessageReceived)
    return integration_event(fact)


def _status_webhook(**status: Any) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "statuses": [
            {"id": "wamid.out1", "status": "delivered", "timestamp": "1750000000", **status}
        ],
    }
    return {"entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}


def test_text_message_becomes_inbound_message_with_its_sender_and_times(
    text_webhook: TextWebhook,
) -> None:
    body = text_webhook(text="Is it in blue?", wamid="wamid.A1", timestamp=AN_HOUR_AGO)

    message = _only_inbound(body)

    assert message.wamid == "wamid.A1"
    assert (message.phone_number_id, message.display_phone_number) == (
        "106540352242922",
        "15550783881",
    )
    assert (message.customer.wa_id, message.customer.profile_name) == (
        "16505551234",
        "Sheena Nelson",
    )
    assert (message.content.type, message.content.text) == ("text", "Is it in blue?")
    assert json.loads(message.content.payload_json) == {"body": "Is it in blue?"}
    assert message.sent_at.seconds == int(AN_HOUR_AGO)
    assert message.received_at.ToDatetime(tzinfo=UTC) == NOW
    assert list(message.problems) == []


def test_customer_known_only_by_business_scoped_id_is_kept() -> None:
    value = {
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Ana"}, "user_id": "BR.1502576394655843"}],
        "messages": [
            {
                "from_user_id": "BR.1502576394655843",
                "id": "wamid.B1",
                "timestamp": "1780000000",
                "type": "text",
                "text": {"body": "oi"},
            }
        ],
    }
    body = {"entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}

    customer = _only_inbound(body).customer

    assert (customer.wa_id, customer.user_id, customer.profile_name) == (
        "",
        "BR.1502576394655843",
        "Ana",
    )


def test_contact_entry_completes_the_sender_with_its_business_scoped_id(
    text_webhook: TextWebhook,
) -> None:
    body = text_webhook(wa_id="16505550000")
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"] = "US.777"

    customer = _only_inbound(body).customer

    assert (customer.wa_id, customer.user_id) == ("16505550000", "US.777")


def test_contact_of_another_customer_is_not_taken_for_the_sender(
    text_webhook: TextWebhook,
) -> None:
    body = text_webhook(wa_id="16505550000")
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "19990000000"

    customer = _only_inbound(body).customer

    assert (customer.wa_id, customer.profile_name) == ("16505550000", "")


def test_reply_names_the_message_it_answers(text_webhook: TextWebhook) -> None:
    body = text_webhook()
    body["entry"][0]["changes"][0]["value"]["messages"][0]["context"] = {
        "from": "15550783881",
        "id": "wamid.ORIGINAL",
    }

    assert _only_inbound(body).context_wamid == "wamid.ORIGINAL"


def test_message_id_is_the_wamid(text_webhook: TextWebhook) -> None:
    (fact,) = parse_document(text_webhook(wamid="wamid.C1"), received_at=NOW).facts

    assert (fact.msg_id, fact.name, fact.phone_number_id) == (
        "wamid.C1",
        "InboundMessageReceived",
        "106540352242922",
    )


def test_status_message_id_is_wamid_status_and_timestamp() -> None:
    (fact,) = parse_document(_status_webhook(), received_at=NOW).facts

    assert (fact.name, fact.msg_id) == ("MessageStatusReported", "wamid.out1:delivered:1750000000")


def test_status_reports_recipient_pricing_and_time() -> None:
    body = _status_webhook(
        timestamp=AN_HOUR_AGO,
        recipient_id="16505551234",
        recipient_user_id="US.42",
        pricing={
            "billable": True,
            "pricing_model": "PMP",
            "category": "utility",
            "type": "regular",
        },
    )

    (fact,) = parse_document(body, received_at=NOW).facts

    report = integration_event(fact)
    assert isinstance(report, ingest_pb2.MessageStatusReported)
    assert (report.recipient.wa_id, report.recipient.user_id) == ("16505551234", "US.42")
    assert (report.pricing.billable, report.pricing.category, report.pricing.type) == (
        True,
        "utility",
        "regular",
    )
    assert report.reported_at.seconds == int(AN_HOUR_AGO)


def test_failed_status_carries_whatsapp_errors() -> None:
    error = {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": {"details": "More than 24 hours have passed"},
    }
    body = _status_webhook(status="failed", errors=[error])

    (fact,) = parse_document(body, received_at=NOW).facts

    assert isinstance(integration_event(fact), ingest_pb2.MessageStatusReported)
    (reported,) = integration_event(fact).errors
    assert (reported.code, reported.title, reported.details) == (
        131047,
        "Re-engagement message",
        "More than 24 hours have passed",
    )


def test_same_change_error_gets_the_same_message_id_each_delivery() -> None:
    body = _status_webhook()
    value = body["entry"][0]["changes"][0]["value"]
    del value["statuses"]
    value["errors"] = [{"code": 131000, "title": "Something went wrong"}]

    first = parse_webhook(json.dumps(body).encode(), received_at=NOW).facts
    again = parse_webhook(json.dumps(body, indent=2).encode(), received_at=NOW).facts

    assert [f.name for f in first] == ["WebhookErrorReported"]
    assert first[0].msg_id == again[0].msg_id
    assert first[0].msg_id.startswith("error:")


def test_change_without_messages_statuses_or_errors_is_ignored_with_a_reason() -> None:
    body = _status_webhook()
    del body["entry"][0]["changes"][0]["value"]["statuses"]

    parsed = parse_document(body, received_at=NOW)

    assert parsed.facts == ()
    assert [i.field for i in parsed.ignored] == ["messages"]


def test_first_phone_number_id_is_read_even_from_a_malformed_webhook() -> None:
    document = {"entry": [{"changes": [{"value": {"metadata": {"phone_number_id": "555"}}}]}]}

    assert first_phone_number_id(document) == "555"
    assert first_phone_number_id({"entry": "nonsense"}) is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"[1, 2]", "must be a JSON object, got a list"),
        (b"{}", "entry is missing"),
        (b'{"entry": {}}', "entry must be a list, got an object"),
    ],
)
def test_body_without_an_entry_list_is_refused_naming_what_is_wrong(
    body: bytes, reason: str
) -> None:
    with pytest.raises(MalformedWebhook) as refused:
        parse_webhook(body, received_at=NOW)

    assert reason in refused.value.reason


@pytest.mark.parametrize(
    ("body", "path", "reason"),
    [
        (b'{"entry": [7]}', "entry[0]", "entry[0] must be an object, got a number"),
        (b'{"entry": [{"id": "1"}]}', "entry[0]", "entry[0].changes is missing"),
        (
            b'{"entry": [{"changes": [{"value": {}}]}]}',
            "entry[0].changes[0]",
            "entry[0].changes[0].field is missing",
        ),
        (
            b'{"entry": [{"changes": [{"field": "messages", "value": []}]}]}',
            "entry[0].changes[0]",
            "entry[0].changes[0].value must be an object, got a list",
        ),
        (
            b'{"entry": [{"changes": [{"field": "messages", "value": {"messages": []}}]}]}',
            "entry[0].changes[0]",
            "entry[0].changes[0].value.metadata is missing",
        ),
    ],
)
def test_malformed_entry_or_change_is_rejected_naming_what_is_wrong(
    body: bytes, path: str, reason: str
) -> None:
    parsed = parse_webhook(body, received_at=NOW)

    (rejected,) = parsed.rejected
    assert (rejected.path, rejected.slug) == (path, "unparseable")
    assert reason in rejected.reason
    assert parsed.facts == ()


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("id", None, "messages[0].id is missing"),
        ("id", 12, "messages[0].id must be a string, got a number"),
        ("timestamp", "yesterday", "messages[0].timestamp must be Unix seconds"),
        ("timestamp", None, "messages[0].timestamp is missing"),
        ("type", None, "messages[0].type is missing"),
        ("context", "wamid.X", "messages[0].context must be an object"),
    ],
)
def test_malformed_message_is_rejected_naming_its_field(
    text_webhook: TextWebhook, field: str, value: object, reason: str
) -> None:
    body = text_webhook()
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message[field] = value

    parsed = parse_document(body, received_at=NOW)

    (rejected,) = parsed.rejected
    assert rejected.path == "entry[0].changes[0].value.messages[0]"
    assert reason in rejected.reason
    assert parsed.facts == ()


def test_message_from_nobody_is_rejected(text_webhook: TextWebhook) -> None:
    body = text_webhook(wa_id=None)

    (rejected,) = parse_document(body, received_at=NOW).rejected

    assert "neither 'from' nor 'from_user_id'" in rejected.reason


def test_decode_gives_the_json_object() -> None:
    assert decode(b'{"entry": []}') == {"entry": []}
