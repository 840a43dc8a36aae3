from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

from threadline.analytics.adapters.inbound.grpc.proto_mapping import (
    conversation_filter,
    conversation_pb,
    message_pb,
    session_status_pb,
)
from threadline.analytics.domain.read.views import (
    ConversationView,
    Lead,
    MessageView,
    SessionStatus,
    TemplateView,
)
from threadline.contracts.analytics.v1 import analytics_pb2 as pb

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


def test_the_shared_filter_message_reads_like_the_listing_request() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    request = pb.ConversationFilter(assistant="alpha", status="active", customer_phone="+1 555")
    request.created_from.FromDatetime(start)

    criteria = conversation_filter(request)

    assert criteria.conditions() == {
        "assistant": "alpha",
        "status": "active",
        "customer_phone": "1555",
        "created_from": start,
    }


def test_a_listing_request_without_dates_leaves_the_ranges_open() -> None:
    criteria = conversation_filter(pb.ListConversationsRequest(channel="whatsapp"))

    assert (criteria.created_from, criteria.last_message_to) == (None, None)


def test_an_open_window_lists_no_templates_and_a_closed_one_may_have_no_last_message() -> None:
    status = SessionStatus(
        window_active=False,
        last_inbound_at=None,
        expires_at=None,
        remaining_minutes=0,
        conversation_id=uuid4(),
        templates=(TemplateView("welcome", "en_US", "MARKETING", 2),),
    )

    reply = session_status_pb(status)

    assert not reply.HasField("last_inbound_at") and not reply.HasField("expires_at")
    assert [(t.name, t.parameter_count) for t in reply.templates] == [("welcome", 2)]
