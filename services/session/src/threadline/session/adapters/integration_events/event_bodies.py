"""The body of each `SessionEvent`, filled from a stored event's fields.

The fields are what the stored state holds (see `event_state`), or a domain event's
`vars()`: UUIDs as text or `UUID`, datetimes as `datetime`. A field an older record lacks gets
the default of the `@event` method's parameter, else the empty value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from google.protobuf.timestamp_pb2 import Timestamp

from threadline.contracts.events.v1 import common_pb2
from threadline.contracts.events.v1 import session_pb2 as pb
from threadline.session.adapters.integration_events.api_token_bodies import API_TOKEN_BODIES
from threadline.session.adapters.integration_events.assistant_bodies import ASSISTANT_BODIES
from threadline.session.adapters.integration_events.flow_bodies import FLOW_BODIES
from threadline.session.adapters.integration_events.webhook_bodies import WEBHOOK_BODIES
from threadline.session.domain.citations import Citation

Fields = Mapping[str, Any]
Body = Callable[[Fields, pb.SessionEvent], None]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def set_time(stamp: Timestamp, moment: datetime | None) -> None:
    """`stamp.FromDatetime(moment)`, without its `timegm(utctimetuple())` for UTC times."""
    if moment is None:
        stamp.SetInParent()
    elif moment.tzinfo is UTC:
        since = moment - EPOCH
        stamp.seconds = since.days * 86400 + since.seconds
        stamp.nanos = since.microseconds * 1000
    else:
        stamp.FromDatetime(moment)


def _as_text(value: Any) -> str:
    """A value the library's transcoder decoded inside a JSON field (a record only its path
    reads), written as text: `json` alone would refuse it."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no JSON form")


def json_text(value: Any) -> str:
    """`json.dumps(value, sort_keys=True)` as the same JSON value, written compactly by
    `orjson` (unescaped UTF-8, no spaces); what `orjson` refuses or writes otherwise (integers
    beyond 64 bits, NaN and infinities, which it writes as null) is written by `json`."""
    if value == {}:
        return "{}"
    try:
        text = orjson.dumps(value, option=_SORTED, default=_as_text)
    except TypeError:
        return json.dumps(value, sort_keys=True, default=_as_text)
    if b"null" in text:
        return json.dumps(value, sort_keys=True, default=_as_text)
    return text.decode()


def set_content(out: common_pb2.MessageContent, value: Mapping[str, str] | None) -> None:
    value = value or {}
    out.type = value.get("type", "")
    out.text = value.get("text", "")
    out.payload_json = value.get("payload_json", "")


def set_pricing(out: common_pb2.Pricing, value: Mapping[str, Any] | None) -> None:
    if not value:
        out.SetInParent()
        return
    out.billable = bool(value.get("billable", False))
    out.category = str(value.get("category", ""))
    out.pricing_model = str(value.get("pricing_model", ""))
    out.type = str(value.get("type", ""))


def add_errors(out: Any, values: list[Mapping[str, Any]]) -> None:
    for e in values:
        out.add(
            code=int(e.get("code", 0)),
            title=str(e.get("title", "")),
            message=str(e.get("message", "")),
            details=str(e.get("details", "")),
        )


def _registered(f: Fields, out: pb.SessionEvent) -> None:
    body = out.contact_registered
    body.phone_number_id = f.get("phone_number_id", "")
    customer = body.customer
    customer.wa_id = f.get("wa_id", "")
    customer.user_id = f.get("user_id", "")
    customer.profile_name = f.get("profile_name", "")


def _opened(f: Fields, out: pb.SessionEvent) -> None:
    out.contact_conversation_opened.conversation_id = str(f.get("conversation_id", ""))


def _started(f: Fields, out: pb.SessionEvent) -> None:
    body = out.conversation_started
    body.contact_id = str(f.get("contact_id", ""))
    body.phone_number_id = f.get("phone_number_id", "")
    body.session_key = f.get("session_key", "")
    body.channel = f.get("channel", "whatsapp")
    customer = body.customer
    customer.wa_id = f.get("customer_wa_id", "")
    customer.user_id = f.get("customer_user_id", "")
    customer.profile_name = f.get("customer_name", "")
    body.opened_by = f.get("opened_by", "customer")
    body.category = f.get("category", "SERVICE")


def _customer_message(
    f: Fields, body: pb.CustomerMessageReceived | pb.CustomerMessageChanged
) -> None:
    body.message_id = str(f.get("message_id", ""))
    body.wamid = f.get("wamid", "")
    set_content(body.content, f.get("content"))
    set_time(body.sent_at, f.get("sent_at"))
    body.metadata_json = json_text(f.get("metadata", {}))


def _received(f: Fields, out: pb.SessionEvent) -> None:
    body = out.customer_message_received
    _customer_message(f, body)
    body.context_wamid = f.get("context_wamid", "")
    body.free_entry = f.get("free_entry", False)


def _queued(f: Fields, out: pb.SessionEvent) -> None:
    body = out.outbound_message_queued
    body.message_id = str(f.get("message_id", ""))
    body.author = f.get("author", "")
    set_content(body.content, f.get("content"))
    body.in_reply_to_message_id = f.get("in_reply_to", "")
    body.phone_number_id = f.get("phone_number_id", "")
    recipient = body.recipient
    recipient.wa_id = f.get("recipient_wa_id", "")
    recipient.user_id = f.get("recipient_user_id", "")
    body.model = f.get("model", "")
    body.prompt_tokens = f.get("prompt_tokens", 0)
    body.completion_tokens = f.get("completion_tokens", 0)
    body.cached_tokens = f.get("cached_tokens", 0)
    body.latency_ms = f.get("latency_ms", 0)
    body.assistant = f.get("assistant", "")
    body.assistant_version = f.get("assistant_version", 0)
    body.cost = f.get("cost", "")
    body.covered_message_ids.extend(f.get("covered_message_ids", ()))
    body.quoted_message_id = f.get("quoted_message_id", "")
    body.quoted_wamid = f.get("quoted_wamid", "")
    if location := f.get("media_location", ""):
        media = body.media
        media.location = location
        media.content_type = f.get("media_content_type", "")
        media.size = f.get("media_size", 0)
        media.sha256 = f.get("media_sha256", "")
        media.file_name = f.get("media_file_name", "")
        media.media_type = f.get("media_type", "")
    body.reply_id = f.get("reply_id", "")
    body.reply_part = f.get("reply_part", 0)
    body.reply_parts = f.get("reply_parts", 0)
    body.interpretation = f.get("interpretation", "")
    for stored in f.get("citations") or ():
        citation = Citation.from_stored(stored)
        body.citations.add(
            passage_id=citation.passage_id,
            document=citation.document,
            knowledge_base=citation.knowledge_base,
            score=citation.score,
            snippet=citation.snippet,
        )


def _generation_discarded(f: Fields, out: pb.SessionEvent) -> None:
    body = out.assistant_generation_discarded
    body.generation_id = f.get("generation_id", "")
    body.model = f.get("model", "")
    body.assistant = f.get("assistant", "")
    body.assistant_version = f.get("assistant_version", 0)
    body.prompt_tokens = f.get("prompt_tokens", 0)
    body.completion_tokens = f.get("completion_tokens", 0)
    body.cached_tokens = f.get("cached_tokens", 0)
    body.cost = f.get("cost", "")
    body.latency_ms = f.get("latency_ms", 0)
    body.covered_message_ids.extend(f.get("covered_message_ids", ()))


def _attachment_stored(f: Fields, out: pb.SessionEvent) -> None:
    body = out.attachment_stored
    body.message_id = str(f.get("message_id", ""))
    body.media_id = f.get("media_id", "")
    body.media_type = f.get("media_type", "")
    body.content_type = f.get("content_type", "")
    body.size = f.get("size", 0)
    body.sha256 = f.get("sha256", "")
    body.file_name = f.get("file_name", "")
    body.caption = f.get("caption", "")
    body.voice = f.get("voice", False)
    body.location = f.get("location", "")
    body.direction = f.get("direction", "inbound")


def _attachment_failed(f: Fields, out: pb.SessionEvent) -> None:
    body = out.attachment_failed
    body.message_id = str(f.get("message_id", ""))
    body.media_id = f.get("media_id", "")
    body.media_type = f.get("media_type", "")
    body.reason = f.get("reason", "")
    body.refused = f.get("refused", False)


def _transcript_recorded(f: Fields, out: pb.SessionEvent) -> None:
    body = out.transcript_recorded
    body.message_id = str(f.get("message_id", ""))
    body.text = f.get("text", "")
    body.language = f.get("language", "")
    body.model = f.get("model", "")
    body.duration_seconds = f.get("duration_seconds", 0.0)


def _tool_call_recorded(f: Fields, out: pb.SessionEvent) -> None:
    body = out.tool_call_recorded
    body.call_id = f.get("call_id", "")
    body.generation_id = f.get("generation_id", "")
    body.tool = f.get("tool", "")
    body.arguments_json = f.get("arguments_json", "")
    body.status = f.get("status", "")
    body.http_status = f.get("http_status", 0)
    body.result_json = f.get("result_json", "")
    body.latency_ms = f.get("latency_ms", 0)
    body.mutating = f.get("mutating", False)
    body.replayed = f.get("replayed", False)


def _transcript_missing(f: Fields, out: pb.SessionEvent) -> None:
    body = out.transcript_missing
    body.message_id = str(f.get("message_id", ""))
    body.reason = f.get("reason", "")
    body.model = f.get("model", "")


def _dispatched(f: Fields, out: pb.SessionEvent) -> None:
    body = out.outbound_message_dispatched
    body.message_id = str(f.get("message_id", ""))
    body.wamid = f.get("wamid", "")


def _status_report(f: Fields, body: pb.MessageStatusChanged | pb.LateStatusRecorded) -> None:
    body.message_id = str(f.get("message_id", ""))
    body.wamid = f.get("wamid", "")
    body.status = f.get("status", "")
    set_time(body.reported_at, f.get("reported_at"))
    set_pricing(body.pricing, f.get("pricing"))
    add_errors(body.errors, f.get("errors", []))


def _status_changed(f: Fields, out: pb.SessionEvent) -> None:
    _status_report(f, out.message_status_changed)


def _held(f: Fields, out: pb.SessionEvent) -> None:
    body = out.early_status_held
    body.wamid = f.get("wamid", "")
    body.status = f.get("status", "")
    set_time(body.reported_at, f.get("reported_at"))


def _failed(f: Fields, out: pb.SessionEvent) -> None:
    body = out.outbound_message_dispatch_failed
    body.message_id = str(f.get("message_id", ""))
    error = body.error
    error.code = f.get("code", 0)
    error.title = f.get("title", "")
    error.details = f.get("detail", "")


def _changed(f: Fields, out: pb.SessionEvent) -> None:
    body = out.customer_message_changed
    _customer_message(f, body)
    body.kind = f.get("kind", "")
    body.target_wamid = f.get("target_wamid", "")
    body.target_message_id = f.get("target_message_id", "")


def _late(f: Fields, out: pb.SessionEvent) -> None:
    _status_report(f, out.late_status_recorded)


def _conversation_status(status: str, ai_paused: bool | None = None) -> Body:
    def body(f: Fields, out: pb.SessionEvent) -> None:
        new_status = f.get("status", status)
        changed = out.conversation_status_changed
        changed.status = new_status
        changed.reason = f.get("reason", "")
        changed.changed_by = f.get("by", "system")
        changed.ai_paused = (new_status == "escalated") if ai_paused is None else ai_paused

    return body


def _identity(f: Fields, out: pb.SessionEvent) -> None:
    body = out.contact_identity_linked
    body.wa_id = f.get("wa_id", "")
    body.user_id = f.get("user_id", "")


def _renamed(f: Fields, out: pb.SessionEvent) -> None:
    out.contact_profile_name_changed.profile_name = f.get("profile_name", "")


def _claimed(f: Fields, out: pb.SessionEvent) -> None:
    body = out.contact_key_claimed
    body.phone_number_id = f.get("phone_number_id", "")
    body.key = f.get("key", "")
    body.contact_id = str(f.get("contact_id", ""))


def _number_registered(f: Fields, out: pb.SessionEvent) -> None:
    out.business_number_registered.phone_number_id = f.get("phone_number_id", "")


def _autopilot(f: Fields, out: pb.SessionEvent) -> None:
    out.autopilot_set.enabled = f.get("enabled", False)


def _template(f: Fields, out: pb.SessionEvent) -> None:
    body = out.template_registered
    body.name = f.get("name", "")
    body.language = f.get("language", "")
    body.category = f.get("category", "")
    body.body = f.get("body", "")
    body.parameter_count = f.get("parameter_count", 0)


def _auto_resolution(f: Fields, out: pb.SessionEvent) -> None:
    out.auto_resolution_set.hours = f.get("hours", 0)


def _flow(f: Fields, out: pb.SessionEvent) -> None:
    body = out.flow_step_reached
    body.flow_id = f.get("flow_id", "")
    body.step_id = f.get("step_id", "")
    body.session_data_json = json_text(f.get("data", {}))
    body.completed = f.get("completed", False)
    if (expires_at := f.get("expires_at")) is not None:
        set_time(body.expires_at, expires_at)  # unset before flows expired
    body.status = f.get("status", "")
    body.flow_version = f.get("flow_version", 0)


def _data_collected(f: Fields, out: pb.SessionEvent) -> None:
    body = out.contact_data_collected
    body.conversation_id = str(f.get("conversation_id", ""))
    body.fields_json = json_text(f.get("fields", {}))


def _conversation_data_collected(f: Fields, out: pb.SessionEvent) -> None:
    out.conversation_data_collected.fields_json = json_text(f.get("fields", {}))


# Keyed by `Aggregate.Event` (the event classes are made by the `@event` decorator).
BODIES: dict[str, Body] = {
    "Contact.Registered": _registered,
    "Contact.ConversationOpened": _opened,
    "Contact.IdentityLinked": _identity,
    "Contact.ProfileNameChanged": _renamed,
    "Contact.DataCollected": _data_collected,
    "ContactKey.Claimed": _claimed,
    "BusinessNumber.Registered": _number_registered,
    "BusinessNumber.AutopilotSet": _autopilot,
    "BusinessNumber.AutoResolutionSet": _auto_resolution,
    "BusinessNumber.TemplateRegistered": _template,
    "Conversation.Started": _started,
    "Conversation.CustomerIdentityLearned": _identity,
    "Conversation.CustomerMessageReceived": _received,
    "Conversation.CustomerMessageChanged": _changed,
    "Conversation.OutboundMessageQueued": _queued,
    "Conversation.OutboundMessageDispatched": _dispatched,
    "Conversation.MessageStatusChanged": _status_changed,
    "Conversation.LateStatusRecorded": _late,
    "Conversation.EarlyStatusHeld": _held,
    "Conversation.OutboundMessageDispatchFailed": _failed,
    "Conversation.StatusChanged": _conversation_status(""),
    "Conversation.HandedOff": _conversation_status("escalated", ai_paused=True),
    "Conversation.AutopilotResumed": _conversation_status("active", ai_paused=False),
    "Conversation.AutoResolved": _conversation_status(""),
    "Conversation.FlowStepReached": _flow,
    "Conversation.AssistantGenerationDiscarded": _generation_discarded,
    "Conversation.AttachmentStored": _attachment_stored,
    "Conversation.AttachmentFailed": _attachment_failed,
    "Conversation.TranscriptRecorded": _transcript_recorded,
    "Conversation.TranscriptMissing": _transcript_missing,
    "Conversation.ToolCallRecorded": _tool_call_recorded,
    "Conversation.DataCollected": _conversation_data_collected,
    **ASSISTANT_BODIES,
    **FLOW_BODIES,
    **API_TOKEN_BODIES,
    **WEBHOOK_BODIES,
}
