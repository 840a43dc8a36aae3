"""The parser over every webhook sample WhatsApp documents: one fact per message and status."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from threadline.contracts.events.v1 import ingest_pb2
from threadline.ingest.adapters.integration_events import integration_event
from threadline.ingest.domain.webhook_parser import parse_document

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _changes(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [change for entry in body["entry"] for change in entry["changes"]]


def _message_changes(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [c["value"] for c in _changes(body) if c["field"] == "messages"]


def test_every_message_gives_one_inbound_message_of_its_type(
    webhook_sample: tuple[str, dict[str, Any]],
) -> None:
    _, body = webhook_sample
    expected = [(m["id"], m["type"]) for v in _message_changes(body) for m in v.get("messages", [])]

    facts = parse_document(body, received_at=NOW).facts

    inbound = [
        integration_event(f)
        for f in facts
        if isinstance(integration_event(f), ingest_pb2.InboundMessageReceived)
    ]
    assert [(m.wamid, m.content.type) for m in inbound] == expected


def test_every_inbound_message_keeps_its_object_and_business_number(
    webhook_sample: tuple[str, dict[str, Any]],
) -> None:
    _, body = webhook_sample
    values = _message_changes(body)
    expected = [
        (v["metadata"]["phone_number_id"], m) for v in values for m in v.get("messages", [])
    ]

    facts = parse_document(body, received_at=NOW).facts

    inbound = [
        integration_event(f)
        for f in facts
        if isinstance(integration_event(f), ingest_pb2.InboundMessageReceived)
    ]
    assert [(m.phone_number_id, json.loads(m.raw_json)) for m in inbound] == expected
    assert all(m.customer.wa_id or m.customer.user_id for m in inbound)
    assert all(m.received_at.ToDatetime(tzinfo=UTC) == NOW for m in inbound)


def test_every_status_gives_one_status_report_with_its_pricing_and_errors(
    webhook_sample: tuple[str, dict[str, Any]],
) -> None:
    _, body = webhook_sample
    statuses = [s for v in _message_changes(body) for s in v.get("statuses", [])]

    facts = parse_document(body, received_at=NOW).facts

    reports = [
        integration_event(f)
        for f in facts
        if isinstance(integration_event(f), ingest_pb2.MessageStatusReported)
    ]
    assert [(r.wamid, r.status) for r in reports] == [(s["id"], s["status"]) for s in statuses]
    for report, status in zip(reports, statuses, strict=True):
        assert report.HasField("pricing") == ("pricing" in status)
        assert report.pricing.category == status.get("pricing", {}).get("category", "")
        assert [e.code for e in report.errors] == [e["code"] for e in status.get("errors", [])]


def test_every_change_error_gives_one_error_report(
    webhook_sample: tuple[str, dict[str, Any]],
) -> None:
    _, body = webhook_sample
    errors = [e for v in _message_changes(body) for e in v.get("errors", [])]

    facts = parse_document(body, received_at=NOW).facts

    reports = [
        integration_event(f)
        for f in facts
        if isinstance(integration_event(f), ingest_pb2.WebhookErrorReported)
    ]
    assert [r.error.code for r in reports] == [e["code"] for e in errors]


def test_other_fields_give_no_fact_but_a_reason(
    webhook_sample: tuple[str, dict[str, Any]],
) -> None:
    _, body = webhook_sample
    other_fields = [c["field"] for c in _changes(body) if c["field"] != "messages"]

    ignored = parse_document(body, received_at=NOW).ignored

    assert [i.field for i in ignored] == other_fields
    assert all(other in i.reason for other, i in zip(other_fields, ignored, strict=True))


def test_every_sample_is_within_every_bound(webhook_sample: tuple[str, dict[str, Any]]) -> None:
    """WhatsApp's own webhooks need no cleaning: nothing noted, nothing rejected (received a
    minute after the latest time they name, so that no timestamp is clamped)."""
    _, body = webhook_sample
    times = [int(t) for t in re.findall(r'"timestamp": ?"?([0-9]+)', json.dumps(body))]
    received_at = datetime.fromtimestamp(max(times) + 60, UTC) if times else NOW

    parsed = parse_document(body, received_at=received_at)

    assert [problem for fact in parsed.facts for problem in fact.problems] == []
    assert parsed.rejected == ()
