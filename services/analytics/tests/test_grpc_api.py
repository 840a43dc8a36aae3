from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

from threadline.analytics.grpc_api import conversation_pb, message_pb
from threadline.analytics.views import ConversationView, Lead, MessageView

CREATED = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def test_a_conversation_without_messages_has_no_last_message_time() -> None:
    lead = Lead(uuid4(), "15550001111", "", "Ana")
    view = ConversationView(
        id=uuid4(),
        lead_id=lead.id,
        business_number="pn-1",
        session_key="pn-1:15550001111",
        channel="whatsapp",
        status="active",
        message_count=0,
        created_at=CREATED,
        updated_at=CREATED,
        last_message_at=None,
        last_message_preview="",
        lead=lead,
    )

    message = conversation_pb(view)

    assert not message.HasField("last_message_at")
    assert message.created_at.ToDatetime(tzinfo=UTC) == CREATED
    assert (message.lead.id, message.lead.name) == (str(lead.id), "Ana")


def test_a_messages_metadata_travels_as_json() -> None:
    view = MessageView(
        id="m-1",
        conversation_id=uuid4(),
        role="user",
        author="customer",
        type="text",
        content="hi",
        status="received",
        wamid="wamid.1",
        metadata={"referral": {"source": "ad"}},
        created_at=CREATED,
        updated_at=CREATED,
    )

    assert json.loads(message_pb(view).metadata_json) == {"referral": {"source": "ad"}}
