"""Protobuf facts from ingest, ai_responder and outbound → the session's application facts."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard
from uuid import UUID

from google.protobuf.json_format import MessageToDict
from google.protobuf.timestamp_pb2 import Timestamp

from threadline.contracts.events.v1 import ai_pb2, common_pb2, ingest_pb2, outbound_pb2
from threadline.messaging.topology import (
    CUSTOMER_DATA_COLLECTED,
    FLOW_STEP_REACHED,
    GENERATION_DISCARDED,
    HAND_OFF_REQUESTED,
    INBOUND_MESSAGE_RECEIVED,
    MEDIA_KEEP_FAILED,
    MEDIA_KEPT,
    MESSAGE_DISPATCH_FAILED,
    MESSAGE_DISPATCHED,
    MESSAGE_STATUS_REPORTED,
    REPLY_DRAFTED,
    TOOL_CALLED,
    TRANSCRIPT_READY,
    TRANSCRIPTION_FAILED,
    TYPING_INDICATOR_REQUESTED,
)
from threadline.session.application.facts import (
    CollectedData,
    DiscardedGeneration,
    DispatchReport,
    DraftedReply,
    Fact,
    FlowStepReached,
    HandOffRequest,
    HeardVoiceNote,
    InboundMessage,
    KeptMedia,
    MediaNotKept,
    StatusReport,
    ToolCallReport,
    UnheardVoiceNote,
)
from threadline.session.domain.citations import Citation

log = logging.getLogger(__name__)


class UnknownFact(ValueError):
    """A subject this service does not record (logged and acknowledged by the caller)."""


class NotRecorded(UnknownFact):
    """A fact on a stream the session follows that is for another service (acknowledged
    quietly): the typing indicator the AI responder asks outbound for is ephemeral."""


def moment(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def content(value: common_pb2.MessageContent) -> dict[str, str]:
    return {"type": value.type, "text": value.text, "payload_json": value.payload_json}


def _inbound(data: bytes, trace: str) -> Fact:
    fact = ingest_pb2.InboundMessageReceived.FromString(data)
    kind = fact.content.type
    raw: dict[str, Any] = json.loads(fact.raw_json) if fact.raw_json else {}
    payload = _json_or_none(fact.content.payload_json)
    body = raw.get(kind) if payload is None else payload  # the content object
    metadata: dict[str, Any] = {
        "raw": _without_content(raw, kind, payload),
        "display_phone_number": fact.display_phone_number,
        "profile_name": fact.customer.profile_name,
        "received_at": moment(fact.received_at).isoformat(),
        **_derived(kind, body),
    }
    if fact.problems:
        metadata["problems"] = list(fact.problems)
    return InboundMessage(
        wamid=fact.wamid,
        phone_number_id=fact.phone_number_id,
        wa_id=fact.customer.wa_id,
        user_id=fact.customer.user_id,
        profile_name=fact.customer.profile_name,
        content=content(fact.content),
        sent_at=moment(fact.sent_at),
        context_wamid=fact.context_wamid,
        # Everything the payload carried stays with the message, its content once.
        metadata=metadata,
        trace=trace,
        free_entry="referral" in raw,
        target_wamid=_target_wamid(body),
    )


def _json_or_none(text: str) -> Any:
    """The JSON value of `text`; None when there is none (or it is no JSON: the message is
    then kept with its whole raw object, as before payloads were parsed here)."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _without_content(raw: dict[str, Any], kind: str, payload: Any) -> dict[str, Any]:
    """The message object without its content object (`raw["location"]` of a location):
    `content.payload_json` holds that already, and a message's content is kept once, so an
    event stays about the size of the message (ingest bounds that at 64 KiB of JSON)."""
    if payload is None or kind not in raw:
        return raw
    return {key: value for key, value in raw.items() if key != kind}


def _target_wamid(body: Any) -> str:
    """The message an edit, a revoke or a reaction is about."""
    if not isinstance(body, dict):
        return ""
    return str(body.get("original_message_id") or body.get("message_id") or "")


def _derived(kind: str, body: Any) -> dict[str, Any]:
    """What the platform adds to the content: coordinates and a map link for a location whose
    latitude and longitude are numbers within ±90 and ±180 (ingest notes any other as a
    problem of the message)."""
    if kind != "location" or not isinstance(body, dict):
        return {}
    latitude, longitude = body.get("latitude"), body.get("longitude")
    if not (_is_number(latitude) and _is_number(longitude)):
        return {}
    # Comparisons are exact for integers of any size; NaN and infinities fail them.
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return {}
    return {
        "coordinates": {"latitude": latitude, "longitude": longitude},
        "map_link": f"https://www.google.com/maps?q={latitude},{longitude}",
    }


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _status(data: bytes, trace: str) -> Fact:
    fact = ingest_pb2.MessageStatusReported.FromString(data)
    return StatusReport(
        wamid=fact.wamid,
        phone_number_id=fact.phone_number_id,
        status=fact.status,
        recipient_wa_id=fact.recipient.wa_id,
        recipient_user_id=fact.recipient.user_id,
        reported_at=moment(fact.reported_at),
        pricing=MessageToDict(fact.pricing, preserving_proto_field_name=True),
        errors=[MessageToDict(e, preserving_proto_field_name=True) for e in fact.errors],
        trace=trace,
    )


def _draft(data: bytes, trace: str) -> Fact:
    fact = ai_pb2.ReplyDrafted.FromString(data)
    return DraftedReply(
        draft_id=fact.draft_id,
        conversation_id=UUID(fact.conversation_id),
        in_reply_to_message_id=fact.in_reply_to_message_id,
        content=content(fact.content),
        trace=trace,
        model=fact.model,
        prompt_tokens=fact.prompt_tokens,
        completion_tokens=fact.completion_tokens,
        cached_tokens=fact.cached_tokens,
        latency_ms=fact.latency_ms,
        assistant=fact.assistant,
        assistant_version=fact.assistant_version,
        cost=cost(fact.cost, fact.draft_id),
        covered_message_ids=tuple(fact.covered_message_ids),
        quoted_message_id=fact.quoted_message_id,
        interpretation=fact.interpretation,
        author="flow" if fact.author == "flow" else "ai",
        citations=tuple(
            Citation(
                passage_id=c.passage_id,
                document=c.document,
                knowledge_base=c.knowledge_base,
                score=c.score,
                snippet=c.snippet,
            )
            for c in fact.citations
        ),
    )


def _discarded(data: bytes, trace: str) -> Fact:
    fact = ai_pb2.GenerationDiscarded.FromString(data)
    return DiscardedGeneration(
        generation_id=fact.generation_id,
        conversation_id=UUID(fact.conversation_id),
        model=fact.model,
        prompt_tokens=fact.prompt_tokens,
        completion_tokens=fact.completion_tokens,
        cached_tokens=fact.cached_tokens,
        latency_ms=fact.latency_ms,
        assistant=fact.assistant,
        assistant_version=fact.assistant_version,
        cost=cost(fact.cost, fact.generation_id),
        covered_message_ids=tuple(fact.covered_message_ids),
        trace=trace,
    )


def cost(text: str, about: str) -> str:
    """A price as the session keeps it: the plain decimal the AI responder sent ("0.00049"),
    or "" (not priced). One that is no finite amount of 0 or more is kept as "" and logged:
    the reply still counts, priced by analytics' rates instead."""
    if not text:
        return ""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        log.warning("%s: cost %r is no amount; recorded as not priced", about, text[:40])
        return ""
    return text


def _not_recorded(data: bytes, trace: str) -> Fact:
    raise NotRecorded("TypingIndicatorRequested is for outbound; the session does not record it")


def _dispatched(data: bytes, trace: str) -> Fact:
    fact = outbound_pb2.MessageDispatched.FromString(data)
    return DispatchReport(
        message_id=UUID(fact.message_id),
        conversation_id=UUID(fact.conversation_id),
        wamid=fact.wamid,
        trace=trace,
    )


def _dispatch_failed(data: bytes, trace: str) -> Fact:
    fact = outbound_pb2.MessageDispatchFailed.FromString(data)
    return DispatchReport(
        message_id=UUID(fact.message_id),
        conversation_id=UUID(fact.conversation_id),
        error_code=fact.error.code,
        error_title=fact.error.title,
        error_detail=fact.error.details or fact.error.message,
        trace=trace,
    )


def _media_kept(data: bytes, trace: str) -> Fact:
    fact = outbound_pb2.MediaKept.FromString(data)
    return KeptMedia(
        message_id=UUID(fact.message_id),
        conversation_id=UUID(fact.conversation_id),
        media_id=fact.media_id,
        media_type=fact.media_type,
        content_type=fact.content_type,
        size=fact.size,
        sha256=fact.sha256,
        file_name=fact.file_name,
        caption=fact.caption,
        voice=fact.voice,
        location=fact.location,
        kept_at=moment(fact.kept_at),
        trace=trace,
    )


def _media_keep_failed(data: bytes, trace: str) -> Fact:
    fact = outbound_pb2.MediaKeepFailed.FromString(data)
    return MediaNotKept(
        message_id=UUID(fact.message_id),
        conversation_id=UUID(fact.conversation_id),
        media_id=fact.media_id,
        media_type=fact.media_type,
        reason=fact.reason,
        refused=fact.refused,
        attempts=fact.attempts,
        failed_at=moment(fact.failed_at),
        trace=trace,
    )


def _transcript_ready(data: bytes, trace: str) -> Fact:
    fact = ai_pb2.TranscriptReady.FromString(data)
    return HeardVoiceNote(
        message_id=UUID(fact.message_id),
        conversation_id=UUID(fact.conversation_id),
        text=fact.text,
        language=fact.language,
        model=fact.model,
        duration_seconds=seconds(fact.duration_seconds, fact.message_id),
        transcribed_at=moment(fact.transcribed_at),
        trace=trace,
    )


def seconds(value: float, about: str) -> float:
    """An audio's duration as the session keeps it: 0 (not said) for one that is no finite
    number of 0 or more, logged; JSON has no NaN or infinity to store it as."""
    if math.isfinite(value) and value >= 0:
        return value
    log.warning("%s: duration %r is no number of seconds; recorded as not said", about, value)
    return 0.0


def _transcription_failed(data: bytes, trace: str) -> Fact:
    fact = ai_pb2.TranscriptionFailed.FromString(data)
    return UnheardVoiceNote(
        message_id=UUID(fact.message_id),
        conversation_id=UUID(fact.conversation_id),
        reason=fact.reason,
        model=fact.model,
        failed_at=moment(fact.failed_at),
        trace=trace,
    )


def _tool_called(data: bytes, trace: str) -> Fact:
    fact = ai_pb2.ToolCalled.FromString(data)
    latency = fact.latency_seconds
    return ToolCallReport(
        call_id=fact.call_id,
        conversation_id=UUID(fact.conversation_id),
        generation_id=fact.generation_id,
        tool=fact.tool,
        arguments_json=fact.arguments_json,
        status=fact.status,
        http_status=fact.http_status,
        result_json=fact.result_json,
        latency_ms=round(latency * 1000) if math.isfinite(latency) and latency >= 0 else 0,
        mutating=fact.mutating,
        replayed=fact.replayed,
        trace=trace,
    )


def _data_collected(data: bytes, trace: str) -> Fact:
    fact = ai_pb2.CustomerDataCollected.FromString(data)
    fields = json.loads(fact.fields_json or "{}")
    if not isinstance(fields, dict):
        raise ValueError("CustomerDataCollected.fields_json is not a JSON object")
    return CollectedData(
        event_id=fact.event_id,
        conversation_id=UUID(fact.conversation_id),
        generation_id=fact.generation_id,
        fields={str(key): value for key, value in fields.items()},
        trace=trace,
    )


def _hand_off(data: bytes, trace: str) -> Fact:
    fact = ai_pb2.HandOffRequested.FromString(data)
    return HandOffRequest(
        request_id=fact.request_id,
        conversation_id=UUID(fact.conversation_id),
        reason=fact.reason,
        trace=trace,
    )


def _flow(data: bytes, trace: str) -> Fact:
    fact = ai_pb2.FlowStepReached.FromString(data)
    return FlowStepReached(
        conversation_id=UUID(fact.conversation_id),
        flow_id=fact.flow_id,
        step_id=fact.step_id,
        data=json.loads(fact.session_data_json or "{}"),
        completed=fact.completed,
        trace=trace,
        expires_at=moment(fact.expires_at) if fact.HasField("expires_at") else None,
        status=fact.status,
        flow_version=fact.flow_version,
    )


# By the last token of the subject each fact comes on (the topology's routes name them).
DECODERS: dict[str, Callable[[bytes, str], Fact]] = {
    route.pattern.rsplit(".", 1)[-1]: decoder
    for route, decoder in (
        (HAND_OFF_REQUESTED, _hand_off),
        (FLOW_STEP_REACHED, _flow),
        (INBOUND_MESSAGE_RECEIVED, _inbound),
        (MESSAGE_STATUS_REPORTED, _status),
        (REPLY_DRAFTED, _draft),
        (GENERATION_DISCARDED, _discarded),
        (TRANSCRIPT_READY, _transcript_ready),
        (TRANSCRIPTION_FAILED, _transcription_failed),
        (TOOL_CALLED, _tool_called),
        (CUSTOMER_DATA_COLLECTED, _data_collected),
        (TYPING_INDICATOR_REQUESTED, _not_recorded),
        (MESSAGE_DISPATCHED, _dispatched),
        (MESSAGE_DISPATCH_FAILED, _dispatch_failed),
        (MEDIA_KEPT, _media_kept),
        (MEDIA_KEEP_FAILED, _media_keep_failed),
    )
}


def decode_fact(subject: str, data: bytes, *, trace: str = "") -> Fact:
    """Decode by the subject's last token; raises UnknownFact or a decoding error."""
    kind = subject.rsplit(".", 1)[-1]
    decoder = DECODERS.get(kind)
    if decoder is None:
        raise UnknownFact(f"the session does not record {kind} facts")
    return decoder(data, trace)
