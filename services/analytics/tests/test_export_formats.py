from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from uuid import uuid4

from threadline.analytics.application.read.export_formats import (
    MESSAGE_FIELDS,
    CsvFormat,
    JsonLinesFormat,
    csv_value,
    iso,
)
from threadline.analytics.domain.read.views import ConversationView, Lead, MessageView

CREATED = datetime(2025, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=2)))


def conversation() -> ConversationView:
    lead = Lead(uuid4(), "15550001111", "", "Ana", email="ana@example.com")
    return ConversationView(
        id=uuid4(),
        lead_id=lead.id,
        business_number="pn-1",
        session_key="pn-1:15550001111",
        channel="whatsapp",
        status="active",
        message_count=1,
        created_at=CREATED,
        updated_at=CREATED,
        last_message_at=None,
        last_message_preview="hi",
        lead=lead,
        llm_cost=Decimal("0.0000001"),
    )


def message(conversation_id: object) -> MessageView:
    return MessageView(
        id="m-1",
        conversation_id=conversation_id,  # type: ignore[arg-type]
        role="user",
        author="customer",
        type="text",
        content="a, b",
        status="received",
        wamid="wamid.1",
        metadata={"context_wamid": "wamid.0"},
        created_at=CREATED,
        updated_at=CREATED,
    )


def test_times_are_written_in_utc() -> None:
    assert iso(CREATED) == "2025-06-01T07:00:00Z"


def test_small_amounts_are_written_without_an_exponent() -> None:
    assert csv_value(Decimal("0.0000001")) == "0.0000001"
    assert (csv_value(None), csv_value(True), csv_value(3)) == ("", "true", "3")


def test_a_csv_message_row_names_its_conversation_in_the_id_column() -> None:
    view = conversation()
    writer = CsvFormat(include_messages=True)

    text = writer.header() + writer.conversation(view) + writer.message(message(view.id))
    header, conversation_row, message_row = csv.reader(io.StringIO(text, newline=""))

    assert header[:2] == ["kind", "id"] and header[-1] == "message_metadata"
    assert len(header) == len(conversation_row) == len(message_row)
    assert conversation_row[:2] == ["conversation", str(view.id)]
    assert message_row[:3] == ["message", str(view.id), ""]
    assert header[-len(MESSAGE_FIELDS) + 1 :] == [
        f"message_{field}" for field in MESSAGE_FIELDS if field != "conversation_id"
    ]
    assert json.loads(message_row[-1]) == {"context_wamid": "wamid.0"}


def test_a_json_line_nests_the_lead_and_writes_costs_as_numbers() -> None:
    view = conversation()

    line = JsonLinesFormat().conversation(view)
    record = json.loads(line)

    assert line.endswith("\n") and line.count("\n") == 1
    assert record["lead"] == {
        "id": str(view.lead_id),
        "wa_id": "15550001111",
        "user_id": "",
        "name": "Ana",
        "email": "ana@example.com",
    }
    assert "lead_name" not in record
    assert (record["kind"], record["llm_cost"], record["last_message_at"]) == (
        "conversation",
        1e-07,
        None,
    )


def test_a_conversation_s_flow_is_exported_with_its_collected_data() -> None:
    view = replace(
        conversation(),
        flow_id="booking",
        flow_step="confirm",
        session_data={"name": "Ana", "date": "2025-06-02", "guests": 2},
        flow_expires_at=CREATED + timedelta(hours=1),
        flow_status="running",
    )
    writer = CsvFormat(include_messages=False)

    header, row = csv.reader(io.StringIO(writer.header() + writer.conversation(view), newline=""))
    record = json.loads(JsonLinesFormat().conversation(view))

    fields = dict(zip(header, row, strict=True))
    assert (fields["flow_status"], fields["flow_expires_at"]) == ("running", "2025-06-01T08:00:00Z")
    assert json.loads(fields["session_data"]) == {"name": "Ana", "date": "2025-06-02", "guests": 2}
    assert fields["lead_email"] == "ana@example.com"
    assert record["session_data"] == {"name": "Ana", "date": "2025-06-02", "guests": 2}
    assert (record["flow_status"], record["flow_expires_at"]) == ("running", "2025-06-01T08:00:00Z")
    assert (record["flow_id"], record["flow_step"], record["flow_completed"]) == (
        "booking",
        "confirm",
        False,
    )
