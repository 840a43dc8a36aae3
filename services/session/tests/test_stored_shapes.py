"""What is stored stays readable: every event keeps its topic and the fields of its state (in
order), an event stored before fields were added reads back with their defaults, and a snapshot
taken by an older version of the Conversation still loads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from threadline.session.adapters.integration_events.session_events import SessionEvents
from threadline.session.application.conversations import Conversations
from threadline.session.domain.api_token import ApiToken
from threadline.session.domain.assistant import Assistant
from threadline.session.domain.business_number import BusinessNumber
from threadline.session.domain.contact import Contact, ContactKey
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.flow import Flow
from threadline.session.domain.message_state import HeldStatus, MessageState
from threadline.session.domain.webhook_subscription import WebhookSubscription

CONTACT = "threadline.session.domain.contact"
BUSINESS_NUMBER = "threadline.session.domain.business_number"
CONVERSATION = "threadline.session.domain.conversation"
ASSISTANT = "threadline.session.domain.assistant"
FLOW = "threadline.session.domain.flow"
WEBHOOK = "threadline.session.domain.webhook_subscription"
API_TOKEN = "threadline.session.domain.api_token"

# Every stored event's topic and the fields of its state, in the order they are written:
# history is never rewritten, so none of this may change.
STORED_FIELDS: dict[str, list[str]] = {
    f"{CONTACT}:Contact.Registered": [
        *("timestamp", "originator_topic", "phone_number_id", "wa_id", "user_id"),
        "profile_name",
    ],
    f"{CONTACT}:Contact.ConversationOpened": ["timestamp", "conversation_id"],
    f"{CONTACT}:Contact.IdentityLinked": ["timestamp", "wa_id", "user_id"],
    f"{CONTACT}:Contact.ProfileNameChanged": ["timestamp", "profile_name"],
    f"{CONTACT}:Contact.DataCollected": ["timestamp", "conversation_id", "fields"],
    f"{CONTACT}:ContactKey.Claimed": [
        *("timestamp", "originator_topic", "phone_number_id", "key", "contact_id"),
    ],
    f"{BUSINESS_NUMBER}:BusinessNumber.Registered": [
        *("timestamp", "originator_topic", "phone_number_id"),
    ],
    f"{BUSINESS_NUMBER}:BusinessNumber.AutopilotSet": ["timestamp", "enabled"],
    f"{BUSINESS_NUMBER}:BusinessNumber.AutoResolutionSet": ["timestamp", "hours"],
    f"{BUSINESS_NUMBER}:BusinessNumber.AssistantAssigned": [
        *("timestamp", "phone_number_id", "assistant"),
    ],
    f"{ASSISTANT}:Assistant.Registered": ["timestamp", "originator_topic", "name"],
    f"{ASSISTANT}:Assistant.Configured": [
        *("timestamp", "name", "version", "model", "system_prompt", "language"),
        *("reply_delay_seconds", "max_context_tokens", "tools", "business_numbers"),
        *("http_tools_json", "knowledge_bases", "collect_fields_json"),
    ],
    f"{FLOW}:Flow.Defined": [
        *("timestamp", "originator_topic", "flow_id", "name", "definition_version"),
        *("trigger_kinds", "business_numbers", "definition_json"),
    ],
    f"{WEBHOOK}:WebhookSubscription.Configured": [
        *("timestamp", "originator_topic", "subscription_id", "phone_number_id", "url"),
        *("secret_ref", "events", "enabled"),
    ],
    f"{WEBHOOK}:WebhookSubscription.Reconfigured": [
        *("timestamp", "subscription_id", "version", "phone_number_id", "url", "secret_ref"),
        *("events", "enabled", "removed"),
    ],
    f"{API_TOKEN}:ApiToken.Issued": [
        *("timestamp", "originator_topic", "token_id", "name", "token_hash", "roles"),
        *("numbers", "issued_by"),
    ],
    f"{API_TOKEN}:ApiToken.Revoked": ["timestamp", "token_id", "revoked_by"],
    f"{FLOW}:Flow.Redefined": [
        *("timestamp", "flow_id", "version", "name", "definition_version", "trigger_kinds"),
        *("business_numbers", "definition_json"),
    ],
    f"{BUSINESS_NUMBER}:BusinessNumber.TemplateRegistered": [
        *("timestamp", "name", "language", "category", "body", "parameter_count"),
    ],
    f"{CONVERSATION}:Conversation.Started": [
        *("timestamp", "originator_topic", "contact_id", "phone_number_id", "customer_wa_id"),
        *("customer_user_id", "customer_name", "session_key", "channel", "opened_by"),
        "category",
    ],
    f"{CONVERSATION}:Conversation.CustomerIdentityLearned": ["timestamp", "wa_id", "user_id"],
    f"{CONVERSATION}:Conversation.CustomerMessageReceived": [
        *("timestamp", "message_id", "wamid", "content", "sent_at", "context_wamid"),
        *("metadata", "free_entry", "trace"),
    ],
    f"{CONVERSATION}:Conversation.CustomerMessageChanged": [
        *("timestamp", "message_id", "wamid", "kind", "target_wamid", "target_message_id"),
        *("content", "sent_at", "metadata", "trace"),
    ],
    f"{CONVERSATION}:Conversation.OutboundMessageQueued": [
        *("timestamp", "message_id", "author", "content", "in_reply_to", "phone_number_id"),
        *("recipient_wa_id", "recipient_user_id", "queued_at", "model", "prompt_tokens"),
        *("completion_tokens", "trace", "cached_tokens", "latency_ms", "assistant"),
        *("assistant_version", "cost", "covered_message_ids", "quoted_message_id"),
        *("quoted_wamid", "media_location", "media_content_type", "media_size", "media_sha256"),
        *("media_file_name", "media_type", "reply_id", "reply_part", "reply_parts"),
        *("interpretation", "citations"),
    ],
    f"{CONVERSATION}:Conversation.EarlyStatusHeld": [
        *("timestamp", "wamid", "status", "reported_at", "pricing", "errors"),
    ],
    f"{CONVERSATION}:Conversation.OutboundMessageDispatched": [
        *("timestamp", "message_id", "wamid", "trace"),
    ],
    f"{CONVERSATION}:Conversation.MessageStatusChanged": [
        *("timestamp", "message_id", "wamid", "status", "reported_at", "pricing", "errors"),
        "trace",
    ],
    f"{CONVERSATION}:Conversation.LateStatusRecorded": [
        *("timestamp", "message_id", "wamid", "status", "reported_at", "pricing", "errors"),
    ],
    f"{CONVERSATION}:Conversation.OutboundMessageDispatchFailed": [
        *("timestamp", "message_id", "code", "title", "detail", "trace"),
    ],
    f"{CONVERSATION}:Conversation.FlowStepReached": [
        *("timestamp", "flow_id", "step_id", "data", "completed"),
        *("expires_at", "status", "flow_version"),
    ],
    f"{CONVERSATION}:Conversation.AssistantGenerationDiscarded": [
        *("timestamp", "generation_id", "model", "assistant", "assistant_version"),
        *("prompt_tokens", "completion_tokens", "cached_tokens", "cost", "latency_ms"),
        *("covered_message_ids", "trace"),
    ],
    f"{CONVERSATION}:Conversation.AttachmentStored": [
        *("timestamp", "message_id", "media_id", "media_type", "content_type", "size"),
        *("sha256", "file_name", "caption", "voice", "location", "kept_at", "trace"),
        "direction",
    ],
    f"{CONVERSATION}:Conversation.AttachmentFailed": [
        *("timestamp", "message_id", "media_id", "media_type", "reason", "refused"),
        *("attempts", "failed_at", "trace"),
    ],
    f"{CONVERSATION}:Conversation.TranscriptMissing": [
        *("timestamp", "message_id", "reason", "model", "failed_at", "trace"),
    ],
    f"{CONVERSATION}:Conversation.TranscriptRecorded": [
        *("timestamp", "message_id", "text", "language", "model", "duration_seconds"),
        *("transcribed_at", "trace"),
    ],
    f"{CONVERSATION}:Conversation.ToolCallRecorded": [
        *("timestamp", "call_id", "generation_id", "tool", "arguments_json", "status"),
        *("http_status", "result_json", "latency_ms", "mutating", "replayed", "trace"),
    ],
    f"{CONVERSATION}:Conversation.DataCollected": [
        *("timestamp", "event_id", "generation_id", "fields"),
    ],
    f"{CONVERSATION}:Conversation.HandedOff": ["timestamp", "reason", "by"],
    f"{CONVERSATION}:Conversation.AutopilotResumed": ["timestamp", "by"],
    f"{CONVERSATION}:Conversation.StatusChanged": ["timestamp", "status", "reason", "by"],
    f"{CONVERSATION}:Conversation.AutoResolved": ["timestamp", "status", "idle_since"],
}


def test_every_event_type_keeps_its_topic() -> None:
    topics = {
        get_topic(value)
        for aggregate in (
            *(Contact, ContactKey, BusinessNumber, Conversation, Assistant, Flow),
            WebhookSubscription,
            ApiToken,
        )
        for name, value in vars(aggregate).items()
        if isinstance(value, type)
        and issubclass(value, Aggregate.Event)
        and name not in {"Event", "Created"}
    }

    assert topics == set(STORED_FIELDS)
    assert get_topic(Conversation) == f"{CONVERSATION}:Conversation"  # snapshots name it


def test_every_event_type_stores_the_same_fields_in_the_same_order(
    app: Conversations, every_event_type: object
) -> None:
    assert callable(every_event_type)
    every_event_type(app)

    stored = {
        note.topic: list(json.loads(note.state))
        for note in app.recorder.select_notifications(1, 1000)
    }

    assert stored == STORED_FIELDS


# An AI reply queued before issue 10 item 8 added its usage fields, byte for byte.
QUEUED_BEFORE_USAGE = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-03-01T09:31:00+00:00"},'
    b'"message_id":{"_type_":"uuid_hex","_data_":"00000000000000000000000000000005"},'
    b'"author":"ai","content":{"type":"text","text":"Hi","payload_json":""},'
    b'"in_reply_to":"m-1","phone_number_id":"pn-old","recipient_wa_id":"15550002222",'
    b'"recipient_user_id":"",'
    b'"queued_at":{"_type_":"datetime_iso","_data_":"2026-03-01T09:31:00+00:00"},'
    b'"model":"gpt-4o-mini","prompt_tokens":425,"completion_tokens":40,"trace":""}'
)


def test_a_reply_queued_before_usage_was_recorded_reads_back_with_the_defaults(
    app: Conversations,
) -> None:
    topic = get_topic(Conversation.OutboundMessageQueued)
    stored = StoredEvent(CONVERSATION_ID, 2, topic, QUEUED_BEFORE_USAGE)

    by_library = app.mapper.to_domain_event(stored)
    quickly = SessionEvents(app.mapper).decode((7, str(CONVERSATION_ID), 2, topic, stored.state))

    assert isinstance(by_library, Conversation.OutboundMessageQueued)
    assert (by_library.model, by_library.prompt_tokens, by_library.completion_tokens) == (
        "gpt-4o-mini",
        425,
        40,
    )
    assert (by_library.cached_tokens, by_library.latency_ms, by_library.cost) == (0, 0, "")
    assert (by_library.assistant, by_library.assistant_version) == ("", 0)
    assert by_library.covered_message_ids == ()
    assert (by_library.quoted_message_id, by_library.quoted_wamid) == ("", "")
    body = quickly.outbound_message_queued
    assert (body.model, body.prompt_tokens, body.completion_tokens) == ("gpt-4o-mini", 425, 40)
    assert (body.cached_tokens, body.latency_ms, body.cost) == (0, 0, "")
    assert (body.assistant, body.assistant_version, list(body.covered_message_ids)) == ("", 0, [])
    assert (body.quoted_message_id, body.quoted_wamid) == ("", "")


# A snapshot as the Conversation of class version 1 took it (messages as dicts, their reported
# statuses comma-joined; held statuses as dicts with ISO times), byte for byte.
CONVERSATION_ID = UUID("6a1f0b9e-2c3d-4e5f-8a7b-9c0d1e2f3a4b")
VERSION_1_SNAPSHOT = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-02T03:04:05.678901+00:00"},'
    b'"topic":"threadline.session.domain.conversation:Conversation","state":{'
    b'"_created_on":{"_type_":"datetime_iso","_data_":"2026-01-02T03:04:05.678901+00:00"},'
    b'"_modified_on":{"_type_":"datetime_iso","_data_":"2026-01-02T03:04:05.678901+00:00"},'
    b'"contact_id":{"_type_":"uuid_hex","_data_":"00000000000000000000000000000001"},'
    b'"phone_number_id":"pn-old","customer_wa_id":"15550002222","customer_user_id":"",'
    b'"customer_name":"Bo","session_key":"whatsapp_+15550002222","channel":"whatsapp",'
    b'"opened_by":"customer","category":"SERVICE","status":"active","ai_paused":false,'
    b'"last_inbound_at":{"_type_":"datetime_iso","_data_":"2026-03-01T09:30:00+00:00"},'
    b'"free_entry_until":null,'
    b'"last_activity_at":{"_type_":"datetime_iso","_data_":"2026-03-01T09:33:00+00:00"},'
    b'"flow":null,"messages":{'
    b'"00000000-0000-0000-0000-000000000002":'
    b'{"direction":"in","wamid":"wamid.in.1","status":"received"},'
    b'"00000000-0000-0000-0000-000000000003":'
    b'{"direction":"out","wamid":"wamid.out.1","status":"read","reported":"read,delivered"},'
    b'"00000000-0000-0000-0000-000000000004":{"direction":"out","wamid":"","status":"queued"}},'
    b'"message_ids_by_wamid":{"wamid.in.1":"00000000-0000-0000-0000-000000000002",'
    b'"wamid.out.1":"00000000-0000-0000-0000-000000000003"},'
    b'"early_statuses":{"wamid.out.2":['
    b'{"status":"sent","reported_at":"2026-03-01T09:34:00+00:00","pricing":{"billable":true},'
    b'"errors":[]},'
    b'{"status":"delivered","reported_at":"2026-03-01T09:35:00","pricing":{},"errors":[]}]}}}'
)


def old_snapshot_in(app: Conversations) -> None:
    assert app.snapshots is not None
    app.snapshots.recorder.insert_events(
        [StoredEvent(CONVERSATION_ID, 9, get_topic(Snapshot), VERSION_1_SNAPSHOT)]
    )


def test_a_snapshot_of_class_version_1_loads_with_its_messages_as_values(
    app: Conversations,
) -> None:
    old_snapshot_in(app)

    talk = app.repository.get(CONVERSATION_ID)

    assert isinstance(talk, Conversation) and talk.version == 9
    assert talk.messages == {
        "00000000-0000-0000-0000-000000000002": MessageState("in", "wamid.in.1", "received"),
        "00000000-0000-0000-0000-000000000003": MessageState(
            "out", "wamid.out.1", "read", ("read", "delivered")
        ),
        "00000000-0000-0000-0000-000000000004": MessageState("out", "", "queued"),
    }
    assert talk.early_statuses == {
        "wamid.out.2": [
            HeldStatus("sent", datetime(2026, 3, 1, 9, 34, tzinfo=UTC), {"billable": True}, []),
            HeldStatus("delivered", datetime(2026, 3, 1, 9, 35), {}, []),
        ]
    }
    # It behaves as it did: a repeated report changes nothing, the held ones apply.
    assert not talk.report_status(
        wamid="wamid.out.1", status="delivered", reported_at=datetime.now(UTC)
    )
    assert talk.record_dispatch(message_id=UUID(int=4), wamid="wamid.out.2")
    assert talk.messages["00000000-0000-0000-0000-000000000004"].status == "delivered"
    assert talk.early_statuses == {}


# A snapshot as the Conversation of class version 2 took it (before generations were
# discarded), byte for byte.
VERSION_2_ID = UUID("7b2e1c0a-3d4e-4f50-9b8c-0d1e2f3a4b5c")
VERSION_2_SNAPSHOT = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-01T03:26:40.252037+00:00"},'
    b'"topic":"threadline.session.domain.conversation:Conversation","state":{'
    b'"_created_on":{"_type_":"datetime_iso","_data_":"2026-01-02T03:04:05.678901+00:00"},'
    b'"_modified_on":{"_type_":"datetime_iso","_data_":"2026-01-02T03:04:05.678901+00:00"},'
    b'"contact_id":{"_type_":"uuid_hex","_data_":"00000000000000000000000000000001"},'
    b'"phone_number_id":"pn-old","customer_wa_id":"15550002222","customer_user_id":"",'
    b'"customer_name":"Bo","session_key":"whatsapp_+15550002222","channel":"whatsapp",'
    b'"opened_by":"customer","category":"SERVICE","status":"active","ai_paused":false,'
    b'"last_inbound_at":{"_type_":"datetime_iso","_data_":"2026-03-01T09:30:00+00:00"},'
    b'"free_entry_until":null,'
    b'"last_activity_at":{"_type_":"datetime_iso","_data_":"2026-03-01T09:33:00+00:00"},'
    b'"flow":null,"messages":{"00000000-0000-0000-0000-000000000002":'
    b'{"_type_":"session_message_state","_data_":'
    b'{"direction":"in","wamid":"wamid.in.1","status":"received","reported":[]}}},'
    b'"message_ids_by_wamid":{"wamid.in.1":"00000000-0000-0000-0000-000000000002"},'
    b'"early_statuses":{},"class_version":2}}'
)


def test_a_snapshot_of_class_version_1_has_no_discarded_generations(app: Conversations) -> None:
    old_snapshot_in(app)

    talk = app.repository.get(CONVERSATION_ID)

    assert isinstance(talk, Conversation) and talk.discarded_generations == []


def test_a_snapshot_of_class_version_2_loads_and_records_a_discarded_generation_once(
    app: Conversations,
) -> None:
    assert app.snapshots is not None
    app.snapshots.recorder.insert_events(
        [StoredEvent(VERSION_2_ID, 5, get_topic(Snapshot), VERSION_2_SNAPSHOT)]
    )

    talk = app.repository.get(VERSION_2_ID)

    assert isinstance(talk, Conversation) and talk.version == 5
    assert talk.discarded_generations == []
    assert talk.messages == {
        "00000000-0000-0000-0000-000000000002": MessageState("in", "wamid.in.1", "received")
    }
    assert talk.record_discarded_generation(generation_id="gen-1", cost="0.0001")
    assert not talk.record_discarded_generation(generation_id="gen-1", cost="0.0001")
    assert talk.discarded_generations == ["gen-1"]


# A snapshot as the Conversation of class version 3 took it (before customers' media was
# kept), byte for byte: version 2's with one discarded generation.
VERSION_3_ID = UUID("8c3f2d1b-4e5f-4061-8c9d-1e2f3a4b5c6d")
VERSION_3_SNAPSHOT = VERSION_2_SNAPSHOT.replace(
    b'"early_statuses":{},"class_version":2}}',
    b'"early_statuses":{},"discarded_generations":["gen-1"],"class_version":3}}',
)
CUSTOMER_MESSAGE = UUID("00000000-0000-0000-0000-000000000002")


def test_a_snapshot_of_class_version_1_has_no_attachments(app: Conversations) -> None:
    old_snapshot_in(app)

    talk = app.repository.get(CONVERSATION_ID)

    assert isinstance(talk, Conversation) and talk.attachments == {}


def test_a_snapshot_of_class_version_3_loads_and_records_an_attachment_once(
    app: Conversations,
) -> None:
    assert VERSION_3_SNAPSHOT != VERSION_2_SNAPSHOT
    assert app.snapshots is not None
    app.snapshots.recorder.insert_events(
        [StoredEvent(VERSION_3_ID, 6, get_topic(Snapshot), VERSION_3_SNAPSHOT)]
    )

    talk = app.repository.get(VERSION_3_ID)

    assert isinstance(talk, Conversation) and talk.version == 6
    assert talk.discarded_generations == ["gen-1"]
    assert talk.attachments == {}
    assert talk.is_customer_message(CUSTOMER_MESSAGE)

    def keep() -> bool:
        return talk.store_attachment(
            message_id=CUSTOMER_MESSAGE,
            media_id="media-1",
            media_type="image",
            content_type="image/png",
            size=10,
            sha256="ab" * 32,
            file_name="",
            caption="",
            voice=False,
            location="file:///m/ab",
            kept_at=datetime(2026, 3, 1, 9, 31, tzinfo=UTC),
        )

    assert keep()
    assert not keep()
    assert talk.attachments == {str(CUSTOMER_MESSAGE): "stored"}


# A snapshot as the Conversation of class version 4 took it (before voice notes were
# transcribed), byte for byte: version 3's with its customer message's media stored.
VERSION_4_ID = UUID("9d4e3c2b-5f60-4172-9dae-2f3a4b5c6d7e")
VERSION_4_SNAPSHOT = VERSION_3_SNAPSHOT.replace(
    b'"discarded_generations":["gen-1"],"class_version":3}}',
    b'"discarded_generations":["gen-1"],'
    b'"attachments":{"00000000-0000-0000-0000-000000000002":"stored"},"class_version":4}}',
)


def test_a_snapshot_of_class_version_1_has_no_transcripts(app: Conversations) -> None:
    old_snapshot_in(app)

    talk = app.repository.get(CONVERSATION_ID)

    assert isinstance(talk, Conversation) and talk.transcripts == {}


def test_a_snapshot_of_class_version_4_loads_and_records_a_transcript_once(
    app: Conversations,
) -> None:
    assert VERSION_4_SNAPSHOT != VERSION_3_SNAPSHOT
    assert app.snapshots is not None
    app.snapshots.recorder.insert_events(
        [StoredEvent(VERSION_4_ID, 7, get_topic(Snapshot), VERSION_4_SNAPSHOT)]
    )

    talk = app.repository.get(VERSION_4_ID)

    assert isinstance(talk, Conversation) and talk.version == 7
    assert talk.attachments == {str(CUSTOMER_MESSAGE): "stored"}
    assert talk.transcripts == {}

    def hear() -> bool:
        return talk.record_transcript(
            message_id=CUSTOMER_MESSAGE,
            text="hello",
            language="en",
            model="openai:whisper-1",
            duration_seconds=1.5,
            transcribed_at=datetime(2026, 3, 1, 9, 32, tzinfo=UTC),
        )

    assert hear()
    assert not hear()
    assert talk.transcripts == {str(CUSTOMER_MESSAGE): "recorded"}


def test_a_snapshot_of_class_version_6_loads_as_it_was_taken(app: Conversations) -> None:
    old_snapshot_in(app)
    talk = app.repository.get(CONVERSATION_ID)
    assert isinstance(talk, Conversation)
    talk.record_discarded_generation(generation_id="gen-1")
    talk.fail_attachment(
        message_id=CUSTOMER_MESSAGE,
        media_id="media-1",
        media_type="audio",
        reason="expired",
        refused=False,
        attempts=3,
        failed_at=datetime(2026, 3, 1, 9, 31, tzinfo=UTC),
    )
    talk.record_missing_transcript(
        message_id=CUSTOMER_MESSAGE,
        reason="no transcription model",
        model="",
        failed_at=datetime(2026, 3, 1, 9, 31, tzinfo=UTC),
    )
    talk.record_tool_call(
        call_id="gen-1:call_1",
        generation_id="gen-1",
        tool="book_appointment",
        arguments_json='{"day":"tuesday"}',
        status="ok",
        http_status=201,
        result_json='{"status":"ok"}',
        latency_ms=12,
        mutating=True,
        replayed=False,
    )
    stored = app.mapper.to_stored_event(Snapshot.take(talk))

    again = app.mapper.to_domain_event(stored).mutate(None)

    assert json.loads(stored.state)["state"]["class_version"] == 7
    assert isinstance(again, Conversation) and again.tool_calls == ["gen-1:call_1"]
    assert isinstance(again, Conversation)
    assert (again.messages, again.early_statuses) == (talk.messages, talk.early_statuses)
    assert again.discarded_generations == ["gen-1"]
    assert again.attachments == {str(CUSTOMER_MESSAGE): "failed"}
    assert again.transcripts == {str(CUSTOMER_MESSAGE): "missing"}


def test_a_snapshot_of_class_version_5_has_no_tool_calls(app: Conversations) -> None:
    old_snapshot_in(app)
    talk = app.repository.get(CONVERSATION_ID)
    assert isinstance(talk, Conversation)
    stored = app.mapper.to_stored_event(Snapshot.take(talk))
    state = json.loads(stored.state)
    del state["state"]["tool_calls"]
    del state["state"]["collected_data"]
    del state["state"]["data_collections"]
    state["state"]["class_version"] = 5
    version_5 = StoredEvent(
        stored.originator_id, stored.originator_version, stored.topic, json.dumps(state).encode()
    )

    again = app.mapper.to_domain_event(version_5).mutate(None)

    assert isinstance(again, Conversation) and again.tool_calls == []
    assert again.record_tool_call(
        call_id="gen-2:call_1",
        generation_id="gen-2",
        tool="opening_hours",
        arguments_json="{}",
        status="timeout",
        http_status=0,
        result_json='{"status":"timeout"}',
        latency_ms=10_000,
        mutating=False,
        replayed=False,
    )


def test_a_snapshot_of_class_version_6_has_no_collected_data(app: Conversations) -> None:
    old_snapshot_in(app)
    talk = app.repository.get(CONVERSATION_ID)
    assert isinstance(talk, Conversation)
    stored = app.mapper.to_stored_event(Snapshot.take(talk))
    state = json.loads(stored.state)
    del state["state"]["collected_data"]
    del state["state"]["data_collections"]
    state["state"]["class_version"] = 6
    version_6 = StoredEvent(
        stored.originator_id, stored.originator_version, stored.topic, json.dumps(state).encode()
    )

    again = app.mapper.to_domain_event(version_6).mutate(None)

    assert isinstance(again, Conversation)
    assert (again.collected_data, again.data_collections) == ({}, [])
    changed = again.collect_data(
        event_id="collect:gen-1:c1", generation_id="gen-1", fields={"email": "ana@example.com"}
    )
    assert changed == {"email": "ana@example.com"}
    assert again.collected_data == {"email": "ana@example.com"}
