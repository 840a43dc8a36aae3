"""The one place mapping the AI responder's types to and from integration events (protobuf):
`CustomerMessageReceived` (a session event) in, `ReplyDrafted`, `HandOffRequested` and
`GenerationDiscarded` out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from google.protobuf.timestamp_pb2 import Timestamp

from threadline.ai_responder.application.flow_running import FlowStep
from threadline.ai_responder.domain.answers import (
    DiscardedGeneration,
    HandOffRequest,
    ReplyDraft,
)
from threadline.ai_responder.domain.attachment import MEDIA_TYPES, Attachment
from threadline.ai_responder.domain.customer_message import CustomerMessage, choice_in
from threadline.ai_responder.domain.flows.engine import FlowStatus
from threadline.contracts.events.v1 import ai_pb2, common_pb2, session_pb2

INT32_MAX = 2**31 - 1


def session_event(data: bytes) -> session_pb2.SessionEvent:
    """The `SessionEvent` a payload holds; raises when it holds none."""
    return session_pb2.SessionEvent.FromString(data)


def customer_message(event: session_pb2.SessionEvent) -> CustomerMessage:
    """The customer message `event` (a `CustomerMessageReceived`) carries."""
    message = event.customer_message_received
    payload = json_object(message.content.payload_json)
    choice = choice_in(message.content.type, payload)
    return CustomerMessage(
        message_id=message.message_id,
        conversation_id=event.aggregate_id,
        type=message.content.type,
        text=choice.as_text() if choice is not None else message.content.text,
        sent_at=message.sent_at.ToDatetime(tzinfo=UTC),
        customer_name=_customer_name(message.metadata_json),
        choice=choice,
        attachment=declared_attachment(message.content.type, payload),
    )


def declared_attachment(message_type: str, payload: dict[str, object]) -> Attachment | None:
    """The file a media message declares (its Cloud API object: `mime_type`, `filename`,
    `caption`), before it is kept; None for a message without one. One that names no media
    id is failed from the start: outbound has nothing to fetch (it dead-letters the message),
    so no transcript and no kept file will ever come for a burst to wait for."""
    if message_type not in MEDIA_TYPES:
        return None
    return Attachment(
        media_type=message_type,
        content_type=_text(payload, "mime_type"),
        file_name=_text(payload, "filename"),
        caption=_text(payload, "caption"),
        failed="" if _text(payload, "id") else NO_MEDIA_ID,
    )


NO_MEDIA_ID = "the message names no media id"


def stored_attachment(stored: session_pb2.AttachmentStored) -> Attachment:
    """A file the session recorded as kept."""
    return Attachment(
        media_type=stored.media_type,
        content_type=stored.content_type,
        file_name=stored.file_name,
        caption=stored.caption,
        size=stored.size,
        location=stored.location,
    )


def failed_attachment(failed: session_pb2.AttachmentFailed) -> Attachment:
    """A file the session recorded as not kept, with why."""
    return Attachment(media_type=failed.media_type, failed=failed.reason or "not kept")


def reply_drafted(draft: ReplyDraft) -> ai_pb2.ReplyDrafted:
    """The draft as an integration event, with what it cost: tokens as the provider reported
    them, the model's time in milliseconds, the price (USD, "" when not priced) and the
    assistant (name and configuration version) that wrote it."""
    kind, text, payload_json = draft.content
    return ai_pb2.ReplyDrafted(
        draft_id=draft.draft_id,
        conversation_id=draft.conversation_id,
        in_reply_to_message_id=draft.in_reply_to_message_id,
        content=common_pb2.MessageContent(type=kind, text=text, payload_json=payload_json),
        model=draft.model,
        prompt_tokens=draft.usage.input_tokens,
        completion_tokens=draft.usage.output_tokens,
        drafted_at=_timestamp(draft.drafted_at),
        cached_tokens=draft.usage.cached_tokens,
        latency_ms=milliseconds(draft.latency_seconds),
        assistant=draft.assistant,
        assistant_version=draft.assistant_version,
        cost=cost_text(draft.cost),
        covered_message_ids=draft.covered_message_ids,
        interpretation=draft.interpretation,
        quoted_message_id=draft.quoted_message_id,
        author=draft.author,
        citations=[
            ai_pb2.Citation(
                passage_id=c.passage_id,
                document=c.document,
                knowledge_base=c.knowledge_base,
                score=c.score,
                snippet=c.snippet,
            )
            for c in draft.citations
        ],
    )


def flow_step_reached(step: FlowStep) -> ai_pb2.FlowStepReached:
    """Where a conversation's flow is, with its collected data as a JSON object."""
    return ai_pb2.FlowStepReached(
        event_id=step.event_id,
        conversation_id=step.conversation_id,
        flow_id=step.flow_id,
        step_id=step.step_id,
        session_data_json=json.dumps(dict(step.session_data), ensure_ascii=False, sort_keys=True),
        completed=step.status is FlowStatus.COMPLETED,
        reached_at=_timestamp(step.reached_at),
        expires_at=_timestamp(step.expires_at),
        status=step.status.value,
        flow_version=step.flow_version,
    )


def generation_discarded(discarded: DiscardedGeneration) -> ai_pb2.GenerationDiscarded:
    """A superseded generation as an integration event: never sent, its usage still spent."""
    producer = discarded.producer
    return ai_pb2.GenerationDiscarded(
        generation_id=discarded.generation_id,
        conversation_id=discarded.conversation_id,
        model=producer.model,
        assistant=producer.assistant,
        assistant_version=producer.assistant_version,
        prompt_tokens=producer.usage.input_tokens,
        completion_tokens=producer.usage.output_tokens,
        cached_tokens=producer.usage.cached_tokens,
        cost=cost_text(producer.cost),
        latency_ms=milliseconds(producer.latency_seconds),
        covered_message_ids=discarded.covered_message_ids,
        discarded_at=_timestamp(discarded.discarded_at),
    )


def cost_text(cost: Decimal | None) -> str:
    """A price as the events carry it: a plain decimal ("0.000123", never an exponent), or ""
    when the model was not priced."""
    if cost is None:
        return ""
    return format(cost.normalize(), "f")


def milliseconds(seconds: float) -> int:
    """Seconds as whole milliseconds, within the events' int32."""
    return max(0, min(round(seconds * 1000), INT32_MAX))


def hand_off_requested(request: HandOffRequest) -> ai_pb2.HandOffRequested:
    return ai_pb2.HandOffRequested(
        request_id=request.request_id,
        conversation_id=request.conversation_id,
        reason=request.reason,
        requested_at=_timestamp(request.requested_at),
    )


def _text(value: dict[str, object], key: str) -> str:
    found = value.get(key)
    return found.strip() if isinstance(found, str) else ""


def _customer_name(metadata_json: str) -> str:
    raw = json_object(metadata_json)
    name = raw.get("profile_name", "")
    return name if isinstance(name, str) else ""


def json_object(text: str) -> dict[str, object]:
    """The JSON object `text` holds; {} when it holds anything else."""
    try:
        raw = json.loads(text or "{}")
    except ValueError:
        return {}
    return raw if isinstance(raw, dict) else {}


def _timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp
